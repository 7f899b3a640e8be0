"""Which sources exist, and which this configuration can crawl."""

from __future__ import annotations

import attrs

from ..config import Settings
from .base import SourceAdapter

#: Every source scenescout knows, in crawl order, with the key variable it needs.
KNOWN_SOURCES: dict[str, str] = {"ticketmaster": "TICKETMASTER_API_KEY"}


@attrs.frozen
class ConfiguredSource:
    adapter: SourceAdapter
    base_url: str


def configured_sources(
    settings: Settings, wanted: tuple[str, ...] = ()
) -> tuple[dict[str, ConfiguredSource], list[str]]:
    """Adapters for the wanted sources (all known ones when empty) that have credentials.

    Returns them with notices for the ones skipped. Unknown names are the CLI's
    business (it validates ``--source`` against ``KNOWN_SOURCES``).
    """
    names = wanted or tuple(KNOWN_SOURCES)
    found: dict[str, ConfiguredSource] = {}
    notices: list[str] = []
    for name in names:
        if name == "ticketmaster":
            if not settings.keys.ticketmaster:
                notices.append("ticketmaster skipped: TICKETMASTER_API_KEY is not set")
                continue
            from .ticketmaster import TicketmasterSource

            found[name] = ConfiguredSource(
                TicketmasterSource(settings.keys.ticketmaster), settings.urls.ticketmaster
            )
    return found, notices
