"""Validation: is a normalised (and sanitised) Event fit to store?

:func:`validate` raises :class:`RecordRejected` with one of these stable reasons; the
ingestion stage records the record in the rejects table and goes on. Rules are checked
in this order and the first failure is reported.

=====================  =================================================================
reason                 when
=====================  =================================================================
``missing_title``      the title is empty or has no visible character
``missing_start``      no ``starts_at`` and the provider did not mark the date TBA/TBD
``implausible_date``   an instant without UTC offset; a start more than
                       :data:`MAX_PAST` before ``now`` or :data:`MAX_FUTURE` after it;
                       an end before the start, or beyond ``now`` + :data:`MAX_FUTURE`
``unknown_timezone``   ``timezone`` is set but is not an IANA zone name
``bad_coordinates``    only one of lat/lon; NaN or infinite; lat outside ±90 or lon
                       outside ±180; exactly (0, 0) (a placeholder, not a venue)
``bad_status``         ``status`` is not one of ``model.STATUSES``
=====================  =================================================================

Bad URLs, currencies and prices are not reasons: sanitisation drops them and the
event is still worth storing.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo

from ..errors import RecordRejected
from ..model import STATUSES, Event

__all__ = ["MAX_FUTURE", "MAX_PAST", "REASONS", "validate"]

#: How far before the crawl a start may lie (past events are listed by some providers
#: for a while; anything older is a bad date, e.g. a year typo).
MAX_PAST = dt.timedelta(days=730)
#: How far after the crawl a start or end may lie.
MAX_FUTURE = dt.timedelta(days=5 * 365)

REASONS = (
    "missing_title",
    "missing_start",
    "implausible_date",
    "unknown_timezone",
    "bad_coordinates",
    "bad_status",
)


def validate(event: Event, *, now: dt.datetime) -> None:
    """Return None when ``event`` may be stored; raise ``RecordRejected(reason, detail)``
    otherwise (reasons in the module docstring). ``now`` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(event.title, str) or not any(
        ch.isprintable() and not ch.isspace() for ch in event.title
    ):
        raise RecordRejected("missing_title", "the title is empty")
    _check_dates(event, now)
    _check_zone(event.timezone)
    _check_coordinates(event.lat, event.lon)
    if event.status not in STATUSES:
        raise RecordRejected("bad_status", f"status {event.status!r:.40} is not one of {STATUSES}")


def _check_dates(event: Event, now: dt.datetime) -> None:
    start, end = event.starts_at, event.ends_at
    if start is None:
        if not event.date_tba:
            raise RecordRejected("missing_start", "no start and not marked TBA/TBD")
        if end is not None:
            _aware(end, "ends_at")
            _not_after(end, now, "ends_at")
        return
    _aware(start, "starts_at")
    if start < now - MAX_PAST:
        raise RecordRejected(
            "implausible_date", f"starts_at {start.isoformat()} is over {MAX_PAST.days} days ago"
        )
    _not_after(start, now, "starts_at")
    if end is not None:
        _aware(end, "ends_at")
        if end < start:
            raise RecordRejected(
                "implausible_date",
                f"ends_at {end.isoformat()} is before starts_at {start.isoformat()}",
            )
        _not_after(end, now, "ends_at")


def _aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise RecordRejected("implausible_date", f"{name} has no UTC offset")


def _not_after(value: dt.datetime, now: dt.datetime, name: str) -> None:
    if value > now + MAX_FUTURE:
        raise RecordRejected(
            "implausible_date",
            f"{name} {value.isoformat()} is more than {MAX_FUTURE.days} days ahead",
        )


def _check_zone(name: str | None) -> None:
    if name is None:
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise RecordRejected("unknown_timezone", f"{name!r:.60} is not an IANA zone") from None


def _check_coordinates(lat: float | None, lon: float | None) -> None:
    if lat is None and lon is None:
        return
    if lat is None or lon is None:
        raise RecordRejected("bad_coordinates", "only one of lat/lon is set")
    if (
        isinstance(lat, bool)
        or isinstance(lon, bool)
        or not (isinstance(lat, int | float) and isinstance(lon, int | float))
    ):
        raise RecordRejected("bad_coordinates", "lat/lon are not numbers")
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise RecordRejected("bad_coordinates", f"({lat}, {lon}) is not finite")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RecordRejected("bad_coordinates", f"({lat}, {lon}) is out of range")
    if lat == 0 and lon == 0:
        raise RecordRejected("bad_coordinates", "(0, 0) is a placeholder")
