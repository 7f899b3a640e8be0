"""The sandbox's HTTP server: one loopback hypercorn (trio worker) serving every
emulated provider and the shared image route from one starlette app.

Adding a provider: a module with an API class like ``ticketmaster.TicketmasterApi``
(``name``, ``prefix``, ``aliases``, ``key``, ``routes()``, ``publish(base_url)``), built in
``serve`` and listed in ``_apis``; its URL goes into ``SandboxInfo``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import urllib.parse
from collections.abc import Sequence
from typing import Protocol

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from ..model import City
from . import images
from .data import World, build_world
from .faults import FaultInjector, profile
from .ticketmaster import DAILY_QUOTA as TM_DAILY_QUOTA
from .ticketmaster import TicketmasterApi

__all__ = ["SandboxInfo", "serve"]

# Hypercorn reports through this logger (never an access log). The CLI owns the
# terminal: nothing is printed unless the application's logging shows it, and only
# warnings and errors (a failing handler) get that far, not "Running on ...".
_log = logging.getLogger("scenescout_cli.sandbox.http")
_log.setLevel(logging.WARNING)
logging.getLogger("scenescout_cli.sandbox").addHandler(logging.NullHandler())


@attrs.frozen
class SandboxInfo:
    """Where a running sandbox listens, and the keys its providers accept."""

    base_url: str  # e.g. "http://127.0.0.1:54321"
    ticketmaster_url: str  # base_url + "/tm/discovery/v2"
    keys: dict[str, str] = attrs.field(repr=False)  # provider name -> sandbox key
    event_count: int  # how many Ticketmaster events the sandbox holds
    #: provider name -> base URL as scenescout's settings take it (SCENESCOUT_<NAME>_URL);
    #: names: ticketmaster, eventbrite, yelp, meetup, google_places, geocoder
    urls: dict[str, str] = attrs.field(factory=dict)
    #: Eventbrite has no search: the organizer and venue ids whose events it lists
    eventbrite_organizers: tuple[str, ...] = ()
    eventbrite_venues: tuple[str, ...] = ()


class _Api(Protocol):
    name: str
    prefix: str
    aliases: Sequence[str]
    key: str

    def routes(self) -> list[BaseRoute]: ...

    def publish(self, base_url: str) -> None: ...


def tm_quota(events: int) -> int:
    """Ticketmaster's daily quota in a sandbox without rate limits: the documented
    5,000 calls, or one call per 50 events for a larger world."""
    return max(TM_DAILY_QUOTA, events // 50)


def _more_apis(world: World, *, rate_limit: bool) -> list[_Api]:
    """The other providers' emulators. Each provider module adds itself here, one line each."""
    apis: list[_Api] = []
    # (providers register below)
    from .meetup import MeetupApi

    apis.append(MeetupApi(world, rate_limit=rate_limit))
    from .google import GoogleGeocodingApi, GooglePlacesApi

    apis.append(GooglePlacesApi(world, rate_limit=rate_limit))
    apis.append(GoogleGeocodingApi(world, rate_limit=rate_limit))
    from .nominatim import NominatimApi

    apis.append(NominatimApi(world, rate_limit=rate_limit))
    from .eventbrite import EventbriteApi

    apis.append(EventbriteApi(world, rate_limit=rate_limit))
    from .yelp import YelpApi

    apis.append(YelpApi(world, rate_limit=rate_limit))
    return apis


def _extras(apis: Sequence[_Api]) -> dict[str, tuple[str, ...]]:
    """Fields of SandboxInfo that come from one provider (Eventbrite's listed ids)."""
    extras: dict[str, tuple[str, ...]] = {}
    for api in apis:
        for field in ("eventbrite_organizers", "eventbrite_venues"):
            if hasattr(api, field):
                extras[field] = tuple(getattr(api, field))
    return extras


def _app(apis: Sequence[_Api]) -> Starlette:
    routes: list[BaseRoute] = []
    for api in apis:
        for prefix in (api.prefix, *api.aliases):
            routes.append(Mount(prefix, routes=api.routes()))
    routes.extend(images.routes())
    return Starlette(routes=routes)


def _check_port(host: str, port: int) -> None:
    """Raise OSError now if ``host:port`` cannot be bound (hypercorn would leak a socket)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = _log
    config.include_server_header = False
    config.graceful_timeout = 1.0
    return config


async def serve(
    city: City,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    events: int | None = None,
    days: int = 30,
    seed: int = 0,
    rate_limit: bool = True,
    faults: str = "none",
    task_status: trio.TaskStatus[SandboxInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the provider emulator for ``city`` on loopback until cancelled.

    Builds the world (``events`` events, default the city's figure, starting from today
    00:00 UTC over ``days`` days, from ``seed``), binds ``host:port`` (``port=0``: a free
    port), then reports ``task_status.started(SandboxInfo(...))`` once the socket is
    listening and every event is rendered: use ``await nursery.start(serve, city)``.
    ``rate_limit=False`` turns off the spike arrests (benchmarks); quotas still apply,
    but Ticketmaster's grows with a large world (a call per 50 events at least: the
    documented 5,000 calls cannot page through a million events).
    ``faults`` names a fault profile (``faults.PROFILES``: none, flaky, hostile).

    Cancellation closes the listener and every connection; nothing outlives the call.
    Raises ValueError for a non-loopback ``host`` or bad ``days``/``events``, OSError if
    the port cannot be bound.
    """
    try:
        loopback = (
            ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
        )
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox listens on IPv4 loopback only (127.0.0.1), not {host!r}")
    _check_port(host, port)
    fault_profile = profile(faults)

    world = await trio.to_thread.run_sync(
        lambda: build_world(city, days=days, events=events, seed=seed)
    )
    quota = tm_quota(len(world.events)) if not rate_limit else TM_DAILY_QUOTA
    ticketmaster = TicketmasterApi(world, rate_limit=rate_limit, daily_quota=quota)
    apis: list[_Api] = [ticketmaster, *_more_apis(world, rate_limit=rate_limit)]

    async with trio.open_nursery() as nursery:
        prefixes = tuple(p for api in apis for p in (api.prefix, *api.aliases))
        app = FaultInjector(_app(apis), fault_profile, prefixes, seed=seed)
        binds = await nursery.start(hypercorn_serve, app, _config(host, port))
        bound = urllib.parse.urlsplit(binds[0])
        base_url = f"http://{host}:{bound.port}"
        for api in apis:
            await trio.to_thread.run_sync(api.publish, base_url)
        task_status.started(
            SandboxInfo(
                base_url=base_url,
                ticketmaster_url=base_url + ticketmaster.prefix,
                keys={api.name: api.key for api in apis},
                event_count=ticketmaster.event_count,
                urls={api.name: base_url + api.prefix for api in apis},
                **_extras(apis),
            )
        )
