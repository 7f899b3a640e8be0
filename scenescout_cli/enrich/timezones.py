"""Time zones: the IANA zone of an event, and local wall-clock times → true instants.

- :func:`zone_for` finds the zone of a point offline with timezonefinder. The finder
  is built lazily, once per process (about 0.3 s; subprocess workers each build their
  own), and answers are cached per ~11 m cell. Not thread-safe: call it from one
  thread per process (the Trio thread, or a worker).
- :func:`resolve_zone` fills a missing ``Event.timezone``: the venue's zone first,
  else the zone at the event's coordinates; otherwise the event is returned unchanged.
- :func:`local_to_utc`, :func:`local_midnight` and :func:`all_day_span` turn local
  dates and times into aware UTC instants with one documented DST policy:

  * a wall-clock time that does not exist (the spring-forward gap) is moved forward
    by the length of the gap: 02:30 on the night New York springs forward is 03:30
    EDT (07:30 UTC) — the instant a clock that was not changed would show 02:30;
  * an ambiguous time (the fall-back fold) is its first occurrence: 01:30 on the
    night New York falls back is 01:30 EDT (05:30 UTC).

  This is Python's ``fold=0`` rule, the same one the provider normalisers use.

Unknown zone names raise ``RecordRejected("unknown_timezone")``: callers are
normalisers running inside the per-record isolation boundary.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import zoneinfo
from typing import TYPE_CHECKING

from ..errors import RecordRejected
from ..model import Event, evolve_event

if TYPE_CHECKING:
    from timezonefinder import TimezoneFinder

__all__ = ["all_day_span", "local_midnight", "local_to_utc", "resolve_zone", "zone", "zone_for"]

_CELL_DECIMALS = 4  # cache cells of ~11 m: far below any zone border's precision


def zone_for(lat: float | None, lon: float | None) -> str | None:
    """The IANA zone at (lat, lon), offline; None without a valid point or at sea.

    Open-sea answers (``Etc/GMT+5``) are None: a venue is on land, and an event
    "at sea" means bad coordinates rather than a fixed-offset zone.
    """
    if lat is None or lon is None:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return _zone_at(round(lat, _CELL_DECIMALS), round(lon, _CELL_DECIMALS))


@functools.lru_cache(maxsize=65_536)
def _zone_at(lat: float, lon: float) -> str | None:
    name = _finder().timezone_at(lng=lon, lat=lat)
    if name is None or name.startswith("Etc/"):
        return None
    return name


@functools.cache
def _finder() -> TimezoneFinder:
    from timezonefinder import TimezoneFinder  # import cost paid only when needed

    return TimezoneFinder()


def resolve_zone(event: Event, venue_zone: str | None = None) -> Event:
    """``event`` with ``timezone`` filled when it was missing.

    The venue's zone (when it is a known IANA name) comes first, then the zone at the
    event's coordinates. An event that already has a zone, or has neither source, is
    returned unchanged (the same object). Instants are not touched: they are already
    true instants; only the zone used to show them is added.
    """
    if event.timezone:
        return event
    name = venue_zone if venue_zone and _is_zone(venue_zone) else None
    name = name or zone_for(event.lat, event.lon)
    return evolve_event(event, timezone=name) if name else event


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for an IANA name; ``RecordRejected("unknown_timezone")`` otherwise."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise RecordRejected("unknown_timezone", f"{name!r:.60} is not an IANA zone") from None


def local_to_utc(naive: dt.datetime, zone_name: str | zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall-clock time in ``zone_name``.

    Gap times move forward by the gap, fold times are their first occurrence (module
    docstring). ``ValueError`` if ``naive`` carries a tzinfo (it is already an instant);
    ``RecordRejected("unknown_timezone")`` for an unknown zone, ``("bad_date")`` for a
    date that cannot be represented in UTC.
    """
    if naive.tzinfo is not None:
        raise ValueError("local_to_utc takes a naive wall-clock time")
    tz = zone_name if isinstance(zone_name, zoneinfo.ZoneInfo) else zone(zone_name)
    try:
        return naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    except OverflowError:
        raise RecordRejected("bad_date", f"{naive.isoformat()} is out of range") from None


def local_midnight(day: dt.date, zone_name: str | zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant at which ``day`` begins in ``zone_name``.

    Where midnight itself falls in a DST gap (e.g. America/Santiago, Asia/Beirut), the
    day begins at the end of the gap — 01:00 local.
    """
    return local_to_utc(dt.datetime.combine(day, dt.time()), zone_name)


def all_day_span(
    first: dt.date, last: dt.date | None, zone_name: str | zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """(starts_at, ends_at) of an all-day event from ``first`` to ``last`` inclusive.

    ``ends_at`` is the local midnight after ``last`` (exclusive end), so a one-day
    event on a DST-change day lasts 23 or 25 hours. ``last`` None or before ``first``
    means a single day.
    """
    if last is None or last < first:
        last = first
    return (
        local_midnight(first, zone_name),
        local_midnight(last + dt.timedelta(days=1), zone_name),
    )


def _is_zone(name: str) -> bool:
    try:
        zone(name)
    except RecordRejected:
        return False
    return True
