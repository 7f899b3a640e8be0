"""Which sources exist, and which this configuration can crawl."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ..config import Settings
from .base import SourceAdapter


@attrs.frozen
class SourceSpec:
    """How to build one source from the settings."""

    name: str
    key_variable: str
    #: (settings) → adapter, or None with the reason it cannot run
    build: Callable[[Settings], SourceAdapter | str]
    base_url: Callable[[Settings], str]


def _ticketmaster(settings: Settings) -> SourceAdapter | str:
    if not settings.keys.ticketmaster:
        return "TICKETMASTER_API_KEY is not set"
    from .ticketmaster import TicketmasterSource

    return TicketmasterSource(settings.keys.ticketmaster)


def _eventbrite(settings: Settings) -> SourceAdapter | str:
    if not settings.keys.eventbrite:
        return "EVENTBRITE_TOKEN is not set"
    if not (settings.eventbrite.organizers or settings.eventbrite.venues):
        return (
            "Eventbrite has no public search: name organizers or venues in "
            "SCENESCOUT_EVENTBRITE_ORGANIZERS / SCENESCOUT_EVENTBRITE_VENUES"
        )
    from .eventbrite import EventbriteSource

    return EventbriteSource(
        settings.keys.eventbrite,
        organizers=settings.eventbrite.organizers,
        venues=settings.eventbrite.venues,
    )


def _yelp(settings: Settings) -> SourceAdapter | str:
    if not settings.keys.yelp:
        return "YELP_API_KEY is not set"
    from .yelp import YelpSource

    return YelpSource(settings.keys.yelp)


def _meetup(settings: Settings) -> SourceAdapter | str:
    if not settings.keys.meetup:
        return "MEETUP_TOKEN is not set"
    from .meetup import MeetupSource

    return MeetupSource(settings.keys.meetup)


def _google_places(settings: Settings) -> SourceAdapter | str:
    if not settings.keys.google:
        return "GOOGLE_MAPS_API_KEY is not set"
    from .google_places import GooglePlacesSource

    return GooglePlacesSource(settings.keys.google)


#: Every source scenescout knows, in crawl order. Venue directories come first so
#: their venues are known before the events that take place in them.
SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "google_places", "GOOGLE_MAPS_API_KEY", _google_places, lambda s: s.urls.google_places
        ),
        SourceSpec(
            "ticketmaster", "TICKETMASTER_API_KEY", _ticketmaster, lambda s: s.urls.ticketmaster
        ),
        SourceSpec("eventbrite", "EVENTBRITE_TOKEN", _eventbrite, lambda s: s.urls.eventbrite),
        SourceSpec("yelp", "YELP_API_KEY", _yelp, lambda s: s.urls.yelp),
        SourceSpec("meetup", "MEETUP_TOKEN", _meetup, lambda s: s.urls.meetup),
    )
}
#: name → the variable holding its credential
KNOWN_SOURCES: dict[str, str] = {name: spec.key_variable for name, spec in SOURCES.items()}


@attrs.frozen
class ConfiguredSource:
    adapter: SourceAdapter
    base_url: str


def configured_sources(
    settings: Settings, wanted: tuple[str, ...] = ()
) -> tuple[dict[str, ConfiguredSource], list[str]]:
    """Adapters for the wanted sources (all known ones when empty) that can run.

    Returns them with a notice for each one skipped and why. Unknown names are the
    CLI's business (it validates ``--source`` against ``KNOWN_SOURCES``).
    """
    names = wanted or tuple(SOURCES)
    found: dict[str, ConfiguredSource] = {}
    notices: list[str] = []
    for name in names:
        spec = SOURCES[name]
        built = spec.build(settings)
        if isinstance(built, str):
            notices.append(f"{name} skipped: {built}")
            continue
        found[name] = ConfiguredSource(built, spec.base_url(settings))
    return found, notices
