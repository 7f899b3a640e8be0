"""The ``scenescout events`` writers: every format parsed back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import icalendar
import pytest

from scenescout_cli.export import FORMATS, EventRow, write_events

NY = ZoneInfo("America/New_York")
SEEN = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)
TRICKY = 'Jazz, "Live"\nat Café \u2013 東京 🎷; a\\b'

ID_EST = uuid.UUID("00000000-0000-4000-8000-000000000001")
ID_EDT = uuid.UUID("00000000-0000-4000-8000-000000000002")
ID_TBA = uuid.UUID("00000000-0000-4000-8000-000000000003")


def _row(**changes: Any) -> EventRow:
    values: dict[str, Any] = {
        "id": ID_EST,
        "city": "nyc",
        "title": "Night Show",
        "description": "A show.",
        "starts_at": dt.datetime(2026, 11, 7, 20, 0, tzinfo=NY),  # EST, after the DST change
        "ends_at": dt.datetime(2026, 11, 7, 23, 0, tzinfo=NY),
        "timezone": "America/New_York",
        "venue_name": "Blue Note",
        "address": "131 W 3rd St",
        "locality": "New York",
        "postal_code": "10012",
        "country": "US",
        "lat": 40.7308,
        "lon": -74.0007,
        "category": "music",
        "price_min": 25.0,
        "price_max": 40.5,
        "currency": "USD",
        "is_free": False,
        "url": "https://example.com/e/1",
        "image_url": "https://example.com/e/1.jpg",
        "status": "scheduled",
        "quality_score": 0.9,
        "first_seen_at": SEEN,
        "last_seen_at": SEEN,
        "updated_at": SEEN,
    }
    values.update(changes)
    return EventRow(**values)


def _rows() -> list[EventRow]:
    return [
        _row(),
        _row(
            id=ID_EDT,
            title=TRICKY,
            starts_at=dt.datetime(2026, 10, 31, 20, 0, tzinfo=NY),  # EDT, before the change
            ends_at=None,
            status="cancelled",
            description=None,
        ),
        _row(
            id=ID_TBA,
            title="Secret Gig",
            starts_at=None,
            ends_at=None,
            lat=None,
            lon=None,
            is_free=True,
            price_min=None,
            price_max=None,
        ),
    ]


def _write(fmt: str, rows: list[EventRow] | None = None, **kwargs: Any) -> tuple[int, str]:
    out = io.StringIO(newline="")
    n = write_events(iter(_rows() if rows is None else rows), fmt, out, **kwargs)
    return n, out.getvalue()


def test_json_round_trips_every_column() -> None:
    """json writes an array of objects with every column, UTC instants and a local start."""
    n, text = _write("json")
    data = json.loads(text)
    assert n == 3
    assert len(data) == 3
    first, _, tba = data
    assert list(first) == [a.name for a in attrs.fields(EventRow)] + ["starts_at_local"]
    assert first["id"] == str(ID_EST)
    assert first["starts_at"] == "2026-11-08T01:00:00+00:00"
    assert first["starts_at_local"] == "2026-11-07T20:00:00-05:00"
    assert first["first_seen_at"] == "2026-09-01T12:00:00+00:00"
    assert first["lat"] == 40.7308
    assert first["is_free"] is False
    assert data[1]["title"] == TRICKY
    assert data[1]["starts_at_local"] == "2026-10-31T20:00:00-04:00"
    assert tba["starts_at"] is None
    assert tba["starts_at_local"] is None


def test_json_of_no_rows_is_an_empty_array() -> None:
    """json with no rows is a valid empty array."""
    n, text = _write("json", [])
    assert n == 0
    assert json.loads(text) == []


def test_jsonl_writes_one_object_per_line() -> None:
    """jsonl writes exactly one parseable object per row."""
    n, text = _write("jsonl")
    lines = text.splitlines()
    assert n == len(lines) == 3
    assert [json.loads(line)["id"] for line in lines] == [str(ID_EST), str(ID_EDT), str(ID_TBA)]


def test_csv_round_trips_through_dictreader() -> None:
    """csv has a header of the columns and keeps commas, quotes, newlines and unicode intact."""
    n, text = _write("csv")
    records = list(csv.DictReader(io.StringIO(text, newline="")))
    assert n == len(records) == 3
    assert list(records[0]) == [a.name for a in attrs.fields(EventRow)] + ["starts_at_local"]
    assert records[0]["starts_at"] == "2026-11-08T01:00:00+00:00"
    assert records[0]["is_free"] == "false"
    assert records[1]["title"] == TRICKY
    assert records[1]["description"] == ""
    assert records[2]["starts_at"] == ""
    assert records[2]["is_free"] == "true"


def test_geojson_is_a_feature_collection_in_lon_lat_order() -> None:
    """geojson writes Point features as [lon, lat] and leaves out events without coordinates."""
    n, text = _write("geojson")
    data = json.loads(text)
    assert data["type"] == "FeatureCollection"
    assert n == len(data["features"]) == 2
    feature = data["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [-74.0007, 40.7308]}
    assert feature["properties"]["title"] == "Night Show"
    assert feature["properties"]["starts_at_local"] == "2026-11-07T20:00:00-05:00"
    assert "lat" not in feature["properties"]
    assert "lon" not in feature["properties"]


def _calendar(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text.encode("utf-8"))


def test_ics_uses_true_zones_across_a_dst_change() -> None:
    """ics DTSTART is local time with TZID America/New_York, on both sides of the DST change."""
    _, text = _write("ics")
    events = {str(e["UID"]): e for e in _calendar(text).events}
    est, edt = events[f"{ID_EST}@scenescout"], events[f"{ID_EDT}@scenescout"]
    assert "DTSTART;TZID=America/New_York:20261107T200000" in text
    assert "DTSTART;TZID=America/New_York:20261031T200000" in text
    assert est["DTSTART"].params["TZID"] == "America/New_York"
    assert _wall_clock(est.start) == (dt.datetime(2026, 11, 7, 20, 0), dt.timedelta(hours=-5))
    assert _wall_clock(edt.start) == (dt.datetime(2026, 10, 31, 20, 0), dt.timedelta(hours=-4))
    assert _wall_clock(est.end) == (dt.datetime(2026, 11, 7, 23, 0), dt.timedelta(hours=-5))
    assert "DTEND" not in edt


def _wall_clock(when: dt.date) -> tuple[dt.datetime, dt.timedelta | None]:
    assert isinstance(when, dt.datetime)
    return when.replace(tzinfo=None), when.utcoffset()


def test_ics_includes_a_vtimezone_for_each_zone() -> None:
    """ics carries a VTIMEZONE for America/New_York, before the events, with both offsets."""
    _, text = _write("ics")
    calendar = _calendar(text)
    assert [tz["TZID"] for tz in calendar.timezones] == ["America/New_York"]
    assert text.index("BEGIN:VTIMEZONE") < text.index("BEGIN:VEVENT")
    assert "TZOFFSETTO:-0400" in text
    assert "TZOFFSETTO:-0500" in text
    assert calendar.get_missing_tzids() == set()


def test_ics_calendar_and_event_properties() -> None:
    """ics has PRODID, VERSION and per event UID, DTSTAMP, LOCATION, GEO, STATUS, CATEGORIES."""
    n, text = _write("ics")
    calendar = _calendar(text)
    assert str(calendar["PRODID"]) == "-//scenescout//scenescout//EN"
    assert str(calendar["VERSION"]) == "2.0"
    events = {str(e["UID"]): e for e in calendar.events}
    assert n == len(events) == 2
    est, edt = events[f"{ID_EST}@scenescout"], events[f"{ID_EDT}@scenescout"]
    assert est.decoded("DTSTAMP") == SEEN
    assert str(est["SUMMARY"]) == "Night Show"
    assert str(est["DESCRIPTION"]) == "A show."
    assert str(est["LOCATION"]) == "Blue Note, 131 W 3rd St, New York"
    geo = est["GEO"]
    assert isinstance(geo, icalendar.vGeo)
    assert (geo.latitude, geo.longitude) == (40.7308, -74.0007)
    assert str(est["URL"]) == "https://example.com/e/1"
    assert str(est["STATUS"]) == "CONFIRMED"
    assert est.categories == ["music"]
    assert str(edt["STATUS"]) == "CANCELLED"
    assert str(edt["SUMMARY"]) == TRICKY


def test_ics_leaves_out_tba_events() -> None:
    """ics has no VEVENT for an event without a start, and counts only what it wrote."""
    n, text = _write("ics")
    uids = {str(e["UID"]) for e in _calendar(text).events}
    assert n == 2
    assert f"{ID_TBA}@scenescout" not in uids


def test_ics_status_follows_event_status() -> None:
    """ics maps postponed to TENTATIVE and rescheduled to CONFIRMED."""
    _, text = _write("ics", [_row(status="postponed"), _row(id=ID_EDT, status="rescheduled")])
    events = {str(e["UID"]): str(e["STATUS"]) for e in _calendar(text).events}
    assert events == {f"{ID_EST}@scenescout": "TENTATIVE", f"{ID_EDT}@scenescout": "CONFIRMED"}


def test_ics_writes_utc_when_the_zone_is_unknown() -> None:
    """ics falls back to UTC, with no VTIMEZONE, for a missing or unknown zone."""
    _, text = _write("ics", [_row(timezone="Mars/Olympus_Mons"), _row(id=ID_EDT, timezone=None)])
    calendar = _calendar(text)
    assert calendar.timezones == []
    assert {e.start for e in calendar.events} == {dt.datetime(2026, 11, 8, 1, 0, tzinfo=dt.UTC)}
    assert "DTSTART:20261108T010000Z" in text


def test_table_shows_title_local_time_and_tba() -> None:
    """table shows the title, the start in the event's zone and TBA for a dateless event."""
    n, text = _write("table", console_width=200)
    assert n == 3
    assert "Night Show" in text
    assert "Sat 7 Nov 20:00 EST" in text
    assert "Sat 31 Oct 20:00 EDT" in text
    assert "TBA" in text
    assert "25-40.50 USD" in text
    assert "free" in text
    assert 'Jazz, "Live" at Café' in text  # newlines folded: one line per event


def test_table_prints_titles_literally() -> None:
    """table never interprets rich markup or emoji codes found in event titles."""
    _, text = _write("table", [_row(title="[bold]Loud[/bold] :fire:")], console_width=200)
    assert "[bold]Loud[/bold] :fire:" in text


def test_unknown_format_raises_before_writing() -> None:
    """An unknown format raises ValueError and writes nothing."""
    out = io.StringIO()
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        write_events(_rows(), "xml", out)
    assert out.getvalue() == ""


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "geojson"])
def test_streaming_formats_write_before_the_rows_end(fmt: str) -> None:
    """Streaming formats write each row before the next is read, rather than at the end."""
    out = io.StringIO(newline="")
    sizes: list[int] = []

    def rows() -> Iterator[EventRow]:
        for row in _rows()[:2]:
            sizes.append(len(out.getvalue()))
            yield row

    write_events(rows(), fmt, out)
    assert sizes[1] > sizes[0]


def test_formats_constant_lists_every_writer() -> None:
    """Every name in FORMATS is accepted."""
    for fmt in FORMATS:
        n, _ = _write(fmt, [_row()], console_width=120)
        assert n == 1


def test_from_mapping_ignores_extra_keys_and_converts_numbers() -> None:
    """from_mapping takes a dict row, ignores extra keys and turns Decimal into float."""
    row = _row()
    mapping = {**attrs.asdict(row), "price_min": Decimal("25.00"), "source_count": 2}
    assert EventRow.from_mapping(mapping) == row
    assert isinstance(EventRow.from_mapping(mapping).price_min, float)


def test_from_mapping_reports_a_missing_column() -> None:
    """from_mapping raises KeyError naming a missing column."""
    mapping = attrs.asdict(_row())
    del mapping["status"]
    with pytest.raises(KeyError, match="status"):
        EventRow.from_mapping(mapping)


def test_naive_datetimes_are_rejected() -> None:
    """EventRow rejects a naive datetime with ValueError."""
    with pytest.raises(ValueError, match="starts_at"):
        _row(starts_at=dt.datetime(2026, 11, 7, 20, 0))
