"""Ticketmaster records → Event: instants, zones, venues, status, images, categories."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
from typing import Any

import pytest

from scenescout_cli.errors import RecordRejected
from scenescout_cli.sources.ticketmaster import TicketmasterSource

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "ticketmaster"
FETCHED_AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SOURCE = TicketmasterSource("test-key-not-secret")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def page_records() -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in load("page_nyc_0.json")["_embedded"]["events"]}


def record(event_id: str) -> dict[str, Any]:
    return copy.deepcopy(page_records()[event_id])


def minimal(**dates: Any) -> dict[str, Any]:
    """A bare record with a venue in New York and the given ``dates`` object."""
    return {
        "id": "TestRec0000001",
        "name": "A Show",
        "dates": dates,
        "_embedded": {"venues": [{"name": "Somewhere", "timezone": "America/New_York"}]},
    }


# ---------------------------------------------------------------- the NYC page


def test_every_page_event_normalises_to_utc_instants() -> None:
    """Every event on the NYC page normalises, with UTC-aware instants or a TBA flag."""
    for rec in page_records().values():
        event = SOURCE.normalise(rec, FETCHED_AT)
        assert event.source == "ticketmaster"
        assert event.source_id == rec["id"]
        assert event.raw is rec
        if event.starts_at is None:
            assert event.date_tba
        else:
            assert event.starts_at.utcoffset() == dt.timedelta(0)


def test_full_event_with_utc_datetime() -> None:
    """A complete concert keeps its UTC dateTime, venue, music category and largest 16:9 image."""
    event = SOURCE.normalise(record("vvG1IZ9pKx7Qa3"), FETCHED_AT)
    assert event.title == "Harbor Lights \u2013 Summer Tour 2026"
    assert event.starts_at == utc(2026, 7, 11, 0, 0)
    assert event.timezone == "America/New_York"
    assert event.ends_at is None
    assert event.date_tba is False
    assert event.status == "scheduled"
    assert event.venue_name == "Madison Square Garden"
    assert event.address == "7th Ave & 32nd Street"
    assert event.locality == "New York"
    assert event.postal_code == "10001"
    assert event.country == "US"
    assert (event.lat, event.lon) == (40.750504, -73.993439)
    assert event.category == "music"
    assert event.tags == ("Music", "Rock", "Pop")
    assert event.image_url is not None
    assert event.image_url.endswith("_TABLET_LANDSCAPE_LARGE_16_9.jpg")
    assert (event.price_min, event.price_max, event.currency, event.is_free) == (
        None,
        None,
        None,
        None,
    )
    assert event.description is None
    assert event.url == "https://www.ticketmaster.com/event/3B0060A1C4D2E8F1"


def test_local_time_in_venue_zone_when_event_zone_missing() -> None:
    """Without dateTime or dates.timezone, localDate+localTime is read in the venue's zone (EST)."""
    event = SOURCE.normalise(record("G5vYZb4Xq0Rm7"), FETCHED_AT)
    assert event.starts_at == utc(2026, 12, 6, 0, 30)
    assert event.timezone == "America/New_York"
    assert event.status == "rescheduled"


def test_initial_start_date_is_not_the_start() -> None:
    """A rescheduled event starts at dates.start, not at dates.initialStartDate."""
    rec = record("G5vYZb4Xq0Rm7")
    assert rec["dates"]["initialStartDate"]["dateTime"] == "2026-11-22T00:30:00Z"
    assert SOURCE.normalise(rec, FETCHED_AT).starts_at == utc(2026, 12, 6, 0, 30)


def test_zone_from_venue_when_datetime_present() -> None:
    """With dateTime but no dates.timezone, the instant is dateTime and the zone the venue's."""
    event = SOURCE.normalise(record("vvG1fZ9q4Lm2Cx"), FETCHED_AT)
    assert event.starts_at == utc(2026, 4, 3, 23, 30)
    assert event.timezone == "America/New_York"


def test_price_ranges_span_all_ranges() -> None:
    """priceRanges give the lowest min and highest max in their currency; is_free stays unknown."""
    event = SOURCE.normalise(record("G5vYZb4Xq0Rm7"), FETCHED_AT)
    assert (event.price_min, event.price_max, event.currency) == (49.5, 231.1, "USD")
    assert event.is_free is None


def test_description_is_stripped() -> None:
    """The description loses surrounding whitespace."""
    event = SOURCE.normalise(record("G5vYZb4Xq0Rm7"), FETCHED_AT)
    assert event.description == (
        "A clockmaker's daughter inherits a shop where every clock runs a different century."
    )


def test_info_is_the_description_fallback() -> None:
    """Without description, the stripped info text is the description."""
    event = SOURCE.normalise(record("Z7r9jZ1AdKf3P"), FETCHED_AT)
    assert event.description == "Ages 21+. Two-drink minimum per set."


@pytest.mark.parametrize(
    ("event_id", "status"),
    [
        ("vvG1IZ9pKx7Qa3", "scheduled"),  # onsale
        ("vvG1zZ9yTr5Hd8", "scheduled"),  # offsale
        ("Z7r9jZ1AdKf3P", "cancelled"),  # observed spelling
        ("vvG1fZ9q4Lm2Cx", "cancelled"),  # documented spelling
        ("Z7r9jZ1AdbC0q", "postponed"),
        ("G5vYZb4Xq0Rm7", "rescheduled"),
    ],
)
def test_status_codes(event_id: str, status: str) -> None:
    """Status codes map to the four statuses; both cancelled spellings are accepted."""
    assert SOURCE.normalise(record(event_id), FETCHED_AT).status == status


def test_tba_event_without_date() -> None:
    """A postponed TBA event with no localDate has no start and date_tba set."""
    event = SOURCE.normalise(record("Z7r9jZ1AdbC0q"), FETCHED_AT)
    assert event.starts_at is None
    assert event.date_tba is True
    assert event.ends_at is None
    assert event.timezone == "America/New_York"
    assert event.status == "postponed"


def test_only_fallback_images_give_no_image() -> None:
    """An event whose images are all fallbacks has no image."""
    assert SOURCE.normalise(record("Z7r9jZ1AdbC0q"), FETCHED_AT).image_url is None


def test_date_only_event_starts_at_local_midnight() -> None:
    """A noSpecificTime event starts at the start of its local day (EDT → 04:00Z)."""
    event = SOURCE.normalise(record("vvG1zZ9yTr5Hd8"), FETCHED_AT)
    assert event.starts_at == utc(2026, 8, 15, 4, 0)
    assert event.date_tba is False


def test_leading_space_in_city_is_stripped() -> None:
    """The venue city " Forest Hills" becomes "Forest Hills"."""
    assert SOURCE.normalise(record("vvG1zZ9yTr5Hd8"), FETCHED_AT).locality == "Forest Hills"


def test_multi_day_event_ending_after_dst_change() -> None:
    """A multi-day event starting in EDT ends at its local end time read in EST."""
    event = SOURCE.normalise(record("G5diZfkn0B-bh"), FETCHED_AT)
    assert event.starts_at == utc(2026, 10, 30, 14, 0)
    assert event.ends_at == utc(2026, 11, 1, 23, 0)
    assert event.address == "429 11th Avenue, Hall 3E"
    assert event.category == "other"
    assert event.tags == ("Miscellaneous", "Hobby/Special Interest Expos")


def test_ambiguous_local_time_uses_provider_datetime() -> None:
    """At 01:30 on the fall-back night, the provider's dateTime (the EST occurrence) wins."""
    event = SOURCE.normalise(record("Z7r9jZ1Ad4sK_"), FETCHED_AT)
    assert event.starts_at == utc(2026, 11, 1, 6, 30)
    assert event.timezone == "America/New_York"


def test_ambiguous_local_time_without_datetime_is_first_occurrence() -> None:
    """Without dateTime, an ambiguous 01:30 on the fall-back night is the first (EDT) one."""
    rec = record("Z7r9jZ1Ad4sK_")
    del rec["dates"]["start"]["dateTime"]
    assert SOURCE.normalise(rec, FETCHED_AT).starts_at == utc(2026, 11, 1, 5, 30)


def test_local_time_in_dst_gap_moves_forward() -> None:
    """02:30 on the spring-forward day does not exist; it is read as 03:30 EDT (07:30Z)."""
    rec = minimal(start={"localDate": "2026-03-08", "localTime": "02:30:00"})
    assert SOURCE.normalise(rec, FETCHED_AT).starts_at == utc(2026, 3, 8, 7, 30)


def test_local_times_either_side_of_spring_forward() -> None:
    """Times before and after the spring-forward use EST and EDT respectively."""
    before = minimal(start={"localDate": "2026-03-08", "localTime": "01:59:00"})
    after = minimal(start={"localDate": "2026-03-08", "localTime": "03:00:00"})
    assert SOURCE.normalise(before, FETCHED_AT).starts_at == utc(2026, 3, 8, 6, 59)
    assert SOURCE.normalise(after, FETCHED_AT).starts_at == utc(2026, 3, 8, 7, 0)


def test_venue_without_location_has_no_coordinates() -> None:
    """A venue without location gives lat/lon None but keeps its other fields."""
    event = SOURCE.normalise(record("Z7r9jZ1Ad4sK_"), FETCHED_AT)
    assert (event.lat, event.lon) == (None, None)
    assert event.venue_name == "Knockdown Center"
    assert event.locality == "Maspeth"


def test_image_prefers_16_9_when_present() -> None:
    """The largest 16:9 rendition wins when any exist, even over a larger 3:2."""
    event = SOURCE.normalise(record("vvG1fZ9q4Lm2Cx"), FETCHED_AT)
    assert event.image_url is not None
    assert event.image_url.endswith("_RETINA_LANDSCAPE_16_9.jpg")
    rec = minimal(start={"dateTime": "2026-07-01T00:00:00Z"})
    rec["images"] = [
        {"ratio": "3_2", "url": "https://img.example/big32.jpg", "width": 3000, "height": 2000},
        {"ratio": "16_9", "url": "https://img.example/small169.jpg", "width": 640, "height": 360},
        {
            "ratio": "16_9",
            "url": "https://img.example/fb.jpg",
            "width": 4000,
            "height": 2250,
            "fallback": True,
        },
    ]
    assert SOURCE.normalise(rec, FETCHED_AT).image_url == "https://img.example/small169.jpg"


def test_image_without_16_9_takes_largest() -> None:
    """Without 16:9 renditions, the largest non-fallback image is used."""
    rec = minimal(start={"dateTime": "2026-07-01T00:00:00Z"})
    rec["images"] = [
        {"ratio": "4_3", "url": "https://img.example/a.jpg", "width": 305, "height": 225},
        {"ratio": "3_2", "url": "https://img.example/b.jpg", "width": 1024, "height": 683},
    ]
    assert SOURCE.normalise(rec, FETCHED_AT).image_url == "https://img.example/b.jpg"


def test_placeholder_classification_names_are_skipped() -> None:
    """Placeholder names (Other, Undefined) never become tags; duplicates appear once."""
    assert SOURCE.normalise(record("vvG1fZ9q4Lm2Cx"), FETCHED_AT).tags == ("Sports", "Basketball")
    comedy = SOURCE.normalise(record("Z7r9jZ1AdKf3P"), FETCHED_AT)
    assert comedy.tags == ("Arts & Theatre", "Comedy")
    assert comedy.category == "comedy"


@pytest.mark.parametrize(
    ("segment", "genre", "family", "category"),
    [
        ("Music", "Jazz", False, "music"),
        ("Sports", "Hockey", False, "sports"),
        ("Arts & Theatre", "Theatre", False, "theater"),
        ("Arts & Theatre", "Comedy", False, "comedy"),
        ("Arts & Theatre", "Dance", False, "arts"),
        ("Arts & Theatre", "Undefined", False, "theater"),
        ("Film", "Drama", False, "film"),
        ("Miscellaneous", "Undefined", False, "other"),
        ("Miscellaneous", "Family", True, "family"),
        ("Undefined", "Undefined", False, None),
    ],
)
def test_category_table(segment: str, genre: str, family: bool, category: str | None) -> None:
    """The primary classification's segment (and genre, family flag) picks the category."""
    rec = minimal(start={"dateTime": "2026-07-01T00:00:00Z"})
    rec["classifications"] = [
        {"primary": False, "segment": {"name": "Sports"}, "genre": {"name": "Hockey"}},
        {
            "primary": True,
            "segment": {"name": segment},
            "genre": {"name": genre},
            "subGenre": {"name": "Undefined"},
            "family": family,
        },
    ]
    assert SOURCE.normalise(rec, FETCHED_AT).category == category


def test_place_is_used_without_venue() -> None:
    """Without embedded venues, `place` supplies the venue fields and zone."""
    rec = {
        "id": "PlaceOnly00001",
        "name": "Pier Market",
        "dates": {"start": {"localDate": "2026-09-05", "localTime": "11:00:00"}},
        "place": {
            "name": "Pier 17",
            "timezone": "America/New_York",
            "address": {"line1": "89 South Street"},
            "city": {"name": "New York"},
            "postalCode": "10038",
            "country": {"countryCode": "us"},
            "location": {"latitude": "40.7060", "longitude": "-74.0030"},
        },
    }
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.starts_at == utc(2026, 9, 5, 15, 0)
    assert (event.venue_name, event.address, event.postal_code, event.country) == (
        "Pier 17",
        "89 South Street",
        "10038",
        "US",
    )
    assert (event.lat, event.lon) == (40.706, -74.003)


@pytest.mark.parametrize(
    "location",
    [
        {"latitude": "north", "longitude": "-73.9"},
        {"latitude": "40.7"},
        {"latitude": "95.0", "longitude": "-73.9"},
        {"latitude": "0", "longitude": "0"},
        {"latitude": True, "longitude": "-73.9"},
    ],
)
def test_unusable_coordinates_are_none(location: dict[str, Any]) -> None:
    """Unparsable, partial, out-of-range or (0, 0) coordinates become None."""
    rec = minimal(start={"dateTime": "2026-07-01T00:00:00Z"})
    rec["_embedded"]["venues"][0]["location"] = location
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.lat, event.lon) == (None, None)


def test_dates_timezone_wins_over_venue_zone() -> None:
    """dates.timezone is used before the venue's zone."""
    rec = minimal(
        start={"localDate": "2026-07-04", "localTime": "21:00:00"}, timezone="America/Chicago"
    )
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.starts_at == utc(2026, 7, 5, 2, 0)
    assert event.timezone == "America/Chicago"


def test_datetime_wins_over_local_fields() -> None:
    """When dateTime and local fields disagree, dateTime is the instant."""
    rec = minimal(
        start={
            "localDate": "2026-07-04",
            "localTime": "21:00:00",
            "dateTime": "2026-07-05T01:15:00Z",
        }
    )
    assert SOURCE.normalise(rec, FETCHED_AT).starts_at == utc(2026, 7, 5, 1, 15)


def test_date_only_end_is_end_of_local_day() -> None:
    """A date-only end means the end of that local day."""
    rec = minimal(
        start={"localDate": "2026-05-01", "noSpecificTime": True},
        end={"localDate": "2026-05-03", "noSpecificTime": True},
    )
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.starts_at == utc(2026, 5, 1, 4, 0)
    assert event.ends_at == utc(2026, 5, 4, 4, 0)


def test_end_datetime_is_used() -> None:
    """dates.end.dateTime is the end instant."""
    rec = minimal(
        start={"dateTime": "2026-05-01T23:00:00Z"}, end={"dateTime": "2026-05-02T03:00:00Z"}
    )
    assert SOURCE.normalise(rec, FETCHED_AT).ends_at == utc(2026, 5, 2, 3, 0)


def test_end_before_start_is_dropped() -> None:
    """An end before the start is ignored rather than stored."""
    rec = minimal(
        start={"dateTime": "2026-05-01T23:00:00Z"}, end={"dateTime": "2026-05-01T20:00:00Z"}
    )
    assert SOURCE.normalise(rec, FETCHED_AT).ends_at is None


def test_date_tba_with_local_date_keeps_the_date() -> None:
    """A TBA flag with a localDate still yields that day's start; date_tba stays False."""
    rec = minimal(start={"localDate": "2026-10-10", "timeTBA": True, "noSpecificTime": True})
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.starts_at == utc(2026, 10, 10, 4, 0)
    assert event.date_tba is False


def test_other_zone_date_only() -> None:
    """A date-only event in London starts at local midnight (BST → 23:00Z the day before)."""
    rec = minimal(start={"localDate": "2026-07-01"}, timezone="Europe/London")
    assert SOURCE.normalise(rec, FETCHED_AT).starts_at == utc(2026, 6, 30, 23, 0)


def test_prices_keep_first_currency_only() -> None:
    """Price ranges in another currency than the first are ignored."""
    rec = minimal(start={"dateTime": "2026-07-01T00:00:00Z"})
    rec["priceRanges"] = [
        {"type": "standard", "currency": "USD", "min": 20, "max": 40},
        {"type": "standard", "currency": "CAD", "min": 5, "max": 90},
    ]
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.price_min, event.price_max, event.currency) == (20.0, 40.0, "USD")


# ---------------------------------------------------------------- rejects


def test_malformed_records_are_rejected_with_reasons() -> None:
    """A blank name, an impossible date and missing dates are rejected with stable reasons."""
    reasons = {}
    for rec in load("record_malformed.json"):
        with pytest.raises(RecordRejected) as info:
            SOURCE.normalise(rec, FETCHED_AT)
        reasons[rec["id"]] = info.value.reason
    assert reasons == {
        "vvG1bZ9nO-name": "missing_title",
        "vvG1bZ9nBadDt": "bad_date",
        "vvG1bZ9nNoDts": "missing_start",
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "missing_id"),
        ({"id": "  "}, "missing_id"),
        ({"id": 12345}, "missing_id"),
        ({"name": None}, "missing_title"),
        ({"test": True}, "test_event"),
        ({"dates": {"start": {"dateTime": "next tuesday"}}}, "bad_date"),
        ({"dates": {"start": {"localDate": "2026-07-01", "localTime": "25:00:00"}}}, "bad_date"),
        ({"dates": {"start": {"localDate": 20260701}}}, "bad_date"),
        (
            {"dates": {"start": {"dateTime": "2026-07-01T00:00:00Z"}, "end": {"localDate": "x"}}},
            "bad_date",
        ),
        (
            {"dates": {"start": {"localDate": "2026-07-01"}, "timezone": "Mars/Olympus"}},
            "unknown_timezone",
        ),
        ({"dates": {"start": {"noSpecificTime": True}}}, "missing_start"),
        ({"dates": "soon"}, "missing_start"),
    ],
)
def test_rejects(change: dict[str, Any], reason: str) -> None:
    """Records without id, title, a usable start, or with a bad zone are rejected."""
    rec = minimal(start={"dateTime": "2026-07-01T00:00:00Z"})
    rec.update(change)
    with pytest.raises(RecordRejected) as info:
        SOURCE.normalise(rec, FETCHED_AT)
    assert info.value.reason == reason


def test_local_date_without_any_zone_is_rejected() -> None:
    """A local date with no zone on the event or venue cannot become an instant."""
    rec = minimal(start={"localDate": "2026-07-01", "localTime": "20:00:00"})
    del rec["_embedded"]["venues"][0]["timezone"]
    with pytest.raises(RecordRejected) as info:
        SOURCE.normalise(rec, FETCHED_AT)
    assert info.value.reason == "missing_timezone"


def test_datetime_without_any_zone_is_kept() -> None:
    """A UTC dateTime needs no zone: the event keeps its instant with timezone None."""
    rec = minimal(start={"dateTime": "2026-07-01T00:00:00Z"})
    del rec["_embedded"]
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.starts_at == utc(2026, 7, 1, 0, 0)
    assert event.timezone is None
    assert event.venue_name is None


def test_record_id() -> None:
    """record_id is the string id, or None when it is missing, blank or not a string."""
    assert SOURCE.record_id({"id": "vvG1IZ9pKx7Qa3"}) == "vvG1IZ9pKx7Qa3"
    assert SOURCE.record_id({}) is None
    assert SOURCE.record_id({"id": ""}) is None
    assert SOURCE.record_id({"id": 42}) is None
