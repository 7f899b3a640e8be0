"""Writers for ``scenescout events``: ``events`` rows as a table, JSON, CSV, ICS or GeoJSON.

Pure and synchronous: the caller queries the store and opens the output; this module
only turns an iterable of :class:`EventRow` into text on a ``TextIO``.

Formats (:data:`FORMATS`):

- ``table``: a ``rich`` table for people (title, local start, venue, locality, category,
  price, status). It needs every row to size its columns, so it holds them all in memory:
  bound it with ``--limit``.
- ``json``: one JSON array, one object per line; ``jsonl``: one object per line.
  Every column, in schema order, plus ``starts_at_local``. Datetimes are ISO 8601 in UTC
  (``2026-12-05T01:00:00+00:00``); ``starts_at_local`` is the start in the event's own zone
  (``2026-12-04T20:00:00-05:00``), or in UTC when the row has no known IANA zone. UUIDs are
  strings; non-finite floats are ``null``.
- ``csv``: RFC 4180 via :mod:`csv`, a header of the same keys; ``None`` is the empty field,
  booleans are ``true``/``false``.
- ``ics``: an iCalendar (RFC 5545) VCALENDAR built with ``icalendar``. DTSTART/DTEND carry
  the local time with ``TZID`` = the event's IANA zone, and a VTIMEZONE for each zone used
  is included (covering whole years around the events). Events without a start (TBA) are
  **left out**, since a VEVENT without DTSTART cannot be placed in a calendar. Events without
  ``ends_at`` (or with an end not after the start) have no DTEND. Events whose zone is missing
  or unknown are written in UTC.
- ``geojson``: an RFC 7946 FeatureCollection of Point features, ``[lon, lat]``, the other
  columns as properties. Events without valid coordinates are **left out**.

Everything but ``table`` streams: memory stays flat however many rows there are (ICS
spools its VEVENTs to a temporary file, because the VTIMEZONEs, written first, depend on
every event).

``csv`` and ``ics`` write ``\\r\\n`` line ends themselves: open files with ``newline=""``.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import math
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import icalendar
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["FORMATS", "EventRow", "write_events"]

FORMATS = ("table", "json", "jsonl", "csv", "ics", "geojson")


def _opt_float(value: Any) -> float | None:
    # numeric columns arrive as Decimal from psycopg
    return None if value is None else float(value)


def _to_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _aware(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None and attribute.name in ("starts_at", "ends_at"):
        return
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be a timezone-aware datetime, got {value!r}")


@attrs.frozen
class EventRow:
    """One row of the ``events`` table, fields in schema order.

    Datetimes must be timezone-aware (any offset; writers convert). ``starts_at`` is None
    for TBA events. Numeric fields accept ``Decimal``/``int`` and are stored as ``float``;
    ``id`` accepts a UUID string. Raises ``ValueError`` for a naive datetime or a bad UUID.
    """

    id: uuid.UUID = attrs.field(converter=_to_uuid)
    city: str
    title: str
    description: str | None
    starts_at: dt.datetime | None = attrs.field(validator=_aware)
    ends_at: dt.datetime | None = attrs.field(validator=_aware)
    timezone: str | None
    venue_name: str | None
    address: str | None
    locality: str | None
    postal_code: str | None
    country: str | None
    lat: float | None = attrs.field(converter=_opt_float)
    lon: float | None = attrs.field(converter=_opt_float)
    category: str | None
    price_min: float | None = attrs.field(converter=_opt_float)
    price_max: float | None = attrs.field(converter=_opt_float)
    currency: str | None
    is_free: bool | None
    url: str | None
    image_url: str | None
    status: str
    quality_score: float | None = attrs.field(converter=_opt_float)
    first_seen_at: dt.datetime = attrs.field(validator=_aware)
    last_seen_at: dt.datetime = attrs.field(validator=_aware)
    updated_at: dt.datetime = attrs.field(validator=_aware)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> EventRow:
        """Build from a dict row (psycopg ``dict_row``); extra keys are ignored.

        Raises ``KeyError`` naming the first missing column, ``ValueError`` as the constructor.
        """
        return cls(*(d[name] for name in _COLUMNS))


_COLUMNS: tuple[str, ...] = tuple(a.name for a in attrs.fields(EventRow))
_KEYS: tuple[str, ...] = (*_COLUMNS, "starts_at_local")


def write_events(
    rows: Iterable[EventRow], fmt: str, out: TextIO, *, console_width: int | None = None
) -> int:
    """Write ``rows`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`).

    Returns the number of events written, which for ``ics`` and ``geojson`` excludes
    the rows left out (TBA, no coordinates). ``console_width`` only affects ``table``.
    Raises ``ValueError`` for an unknown format (before reading any row or writing
    anything); errors from ``out`` propagate. ``out`` is not closed.
    """
    if fmt == "table":
        return _write_table(rows, out, console_width)
    writer = _STREAM_WRITERS.get(fmt)
    if writer is None:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return writer(rows, out)


# -- values ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``name``, or None when absent or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _local(row: EventRow, when: dt.datetime) -> dt.datetime:
    """``when`` in the event's zone, or in UTC when it has none."""
    return when.astimezone(_zone(row.timezone) or dt.UTC)


def _point(row: EventRow) -> tuple[float, float] | None:
    """``(lat, lon)`` when both are present and in range (so never NaN), else None."""
    lat, lon = row.lat, row.lon
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _record(row: EventRow) -> dict[str, Any]:
    """Every column, JSON-ready, plus ``starts_at_local``."""
    record = {name: _json_value(getattr(row, name)) for name in _COLUMNS}
    start = row.starts_at
    record["starts_at_local"] = None if start is None else _local(row, start).isoformat()
    return record


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


# -- writers --------------------------------------------------------------------------


def _write_json(rows: Iterable[EventRow], out: TextIO) -> int:
    return _write_array(out, "[", "]", (_dumps(_record(row)) for row in rows))


def _write_jsonl(rows: Iterable[EventRow], out: TextIO) -> int:
    n = 0
    for row in rows:
        out.write(_dumps(_record(row)) + "\n")
        n += 1
    return n


def _write_array(out: TextIO, opening: str, closing: str, items: Iterator[str]) -> int:
    """Write ``opening``, the items one per line separated by commas, ``closing``."""
    out.write(opening)
    n = 0
    for item in items:
        out.write(("\n" if n == 0 else ",\n") + item)
        n += 1
    out.write(("\n" if n else "") + closing + "\n")
    return n


def _write_csv(rows: Iterable[EventRow], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(_KEYS)
    n = 0
    for row in rows:
        record = _record(row)
        writer.writerow(_csv_value(record[key]) for key in _KEYS)
        n += 1
    return n


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_geojson(rows: Iterable[EventRow], out: TextIO) -> int:
    def features() -> Iterator[str]:
        for row in rows:
            point = _point(row)
            if point is None:
                continue
            lat, lon = point
            properties = _record(row)
            del properties["lat"], properties["lon"]
            yield _dumps(
                {
                    "type": "Feature",
                    "id": str(row.id),
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": properties,
                }
            )

    return _write_array(out, '{"type": "FeatureCollection", "features": [', "]}", features())


_ICS_STATUS = {
    "scheduled": "CONFIRMED",
    "rescheduled": "CONFIRMED",
    "postponed": "TENTATIVE",
    "cancelled": "CANCELLED",
}
_ICS_END = "END:VCALENDAR\r\n"


def _write_ics(rows: Iterable[EventRow], out: TextIO) -> int:
    # VTIMEZONEs go first (some clients need them before use) but depend on every
    # event, so the VEVENTs are spooled, in memory while small, then on disk.
    spans: dict[str, tuple[int, int]] = {}  # TZID -> first and last local year used
    n = 0
    with tempfile.SpooledTemporaryFile(
        max_size=8 << 20, mode="w+", encoding="utf-8", newline=""
    ) as spool:
        for row in rows:
            vevent = _vevent(row)
            if vevent is None:
                continue
            # the TZIDs icalendar actually wrote (none for UTC), over the years of the event
            years = [_local(row, t).year for t in (row.starts_at, row.ends_at) if t is not None]
            for prop in ("DTSTART", "DTEND"):
                if tzid := getattr(vevent.get(prop), "params", {}).get("TZID"):
                    lo, hi = spans.get(tzid, (min(years), max(years)))
                    spans[tzid] = (min(lo, *years), max(hi, *years))
            spool.write(vevent.to_ical().decode("utf-8"))
            n += 1

        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//scenescout//scenescout//EN")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        for tzid, (first, last) in sorted(spans.items()):
            calendar.add_component(
                icalendar.Timezone.from_tzid(
                    tzid, first_date=dt.date(first, 1, 1), last_date=dt.date(last + 1, 1, 1)
                )
            )
        head = calendar.to_ical().decode("utf-8")
        if not head.endswith(_ICS_END):  # pragma: no cover - icalendar's serialisation
            raise AssertionError("unexpected VCALENDAR serialisation")
        out.write(head.removesuffix(_ICS_END))
        spool.seek(0)
        shutil.copyfileobj(spool, out)
        out.write(_ICS_END)
    return n


def _vevent(row: EventRow) -> icalendar.Event | None:
    """The VEVENT for ``row``, or None for a TBA event."""
    if row.starts_at is None:
        return None
    event = icalendar.Event()
    event.add("uid", f"{row.id}@scenescout")
    # Without METHOD, DTSTAMP is when the information was last revised (RFC 5545 3.8.7.2).
    event.add("dtstamp", row.updated_at.astimezone(dt.UTC))
    event.add("created", row.first_seen_at.astimezone(dt.UTC))
    event.add("last-modified", row.updated_at.astimezone(dt.UTC))
    start = _local(row, row.starts_at)
    event.add("dtstart", start)
    if row.ends_at is not None and row.ends_at > row.starts_at:
        event.add("dtend", _local(row, row.ends_at))
    event.add("summary", row.title)
    if row.description:
        event.add("description", row.description)
    location = ", ".join(p for p in (row.venue_name, row.address, row.locality) if p)
    if location:
        event.add("location", location)
    if (point := _point(row)) is not None:
        event.add("geo", point)
    if row.url:
        event.add("url", row.url)
    if status := _ICS_STATUS.get(row.status):
        event.add("status", status)
    if row.category:
        event.add("categories", [row.category])
    return event


def _write_table(rows: Iterable[EventRow], out: TextIO, width: int | None) -> int:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("Title", ratio=3)
    table.add_column("When", no_wrap=True)
    table.add_column("Venue", ratio=2)
    table.add_column("Locality")
    table.add_column("Category")
    table.add_column("Price", justify="right", no_wrap=True)
    table.add_column("Status")
    n = 0
    for row in rows:
        # Text, not str: provider text must never be read as rich markup or emoji codes.
        table.add_row(
            Text(_one_line(row.title)),
            Text(_when(row)),
            Text(_one_line(row.venue_name)),
            Text(_one_line(row.locality)),
            Text(row.category or ""),
            Text(_price(row)),
            Text(row.status, style=_STATUS_STYLE.get(row.status, "")),
        )
        n += 1
    Console(file=out, width=width, highlight=False).print(table)
    return n


_STATUS_STYLE = {"cancelled": "red", "postponed": "yellow", "rescheduled": "cyan"}


def _one_line(text: str | None) -> str:
    """Whitespace runs, newlines included, as single spaces: one table row per event."""
    return " ".join(text.split()) if text else ""


def _when(row: EventRow) -> str:
    """``Sat 5 Dec 20:00 EST`` in the event's zone; ``TBA`` without a start."""
    if row.starts_at is None:
        return "TBA"
    t = _local(row, row.starts_at)
    return f"{t:%a} {t.day} {t:%b %H:%M} {t.tzname()}"


def _price(row: EventRow) -> str:
    if row.is_free:
        return "free"
    lo = row.price_min if row.price_min is not None else row.price_max
    if lo is None:
        return ""
    hi = row.price_max
    text = _amount(lo) if hi is None or hi == lo else f"{_amount(lo)}-{_amount(hi)}"
    return f"{text} {row.currency}" if row.currency else text


def _amount(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"


_STREAM_WRITERS: dict[str, Callable[[Iterable[EventRow], TextIO], int]] = {
    "json": _write_json,
    "jsonl": _write_jsonl,
    "csv": _write_csv,
    "ics": _write_ics,
    "geojson": _write_geojson,
}
