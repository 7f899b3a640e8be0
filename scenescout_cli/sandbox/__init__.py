"""The provider emulator: a loopback HTTP server that behaves like the providers' real
APIs (paths, auth, paging, caps, rate-limit responses and headers), with deterministic,
realistic data for a city at real venues.

    async with trio.open_nursery() as nursery:
        info = await nursery.start(serve, city_from_slug("nyc"))
        # GET {info.ticketmaster_url}/events.json?apikey={info.keys["ticketmaster"]}...
        nursery.cancel_scope.cancel()

It shares no code with ``scenescout_cli.sources``: every provider module here is written
from the providers' documented shapes alone, so that it catches the adapters' mistakes.

Layout: ``data`` (the provider-neutral world: venues and events), one module per
provider (``ticketmaster``), ``images`` (the shared image route), ``limits`` (spike
arrest and quotas), ``server`` (the app, ``serve`` and ``SandboxInfo``).
"""

from .server import SandboxInfo, serve

__all__ = ["SandboxInfo", "serve"]
