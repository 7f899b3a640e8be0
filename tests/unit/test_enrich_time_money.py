"""Zones and instants across DST changes; price ranges, currencies and the free flag."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from typing import Any

import attrs
import pytest

from scenescout_cli.enrich.money import currency_code, minor_unit_exponent, normalise_price
from scenescout_cli.enrich.timezones import (
    all_day_span,
    local_midnight,
    local_to_utc,
    resolve_zone,
    zone_for,
)
from scenescout_cli.errors import RecordRejected
from scenescout_cli.model import Event

NY, LA, LONDON, PARIS = "America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Paris"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def event(**changes: Any) -> Event:
    base = Event(
        source="yelp",
        source_id="oakland-rooftop-salsa-night",
        title="Rooftop Salsa Night",
        starts_at=utc(2026, 6, 14, 3, 0),
        timezone=None,
    )
    return attrs.evolve(base, **changes)


# --------------------------------------------------------------------------- instants


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        (dt.datetime(2026, 7, 10, 20, 0), NY, utc(2026, 7, 11, 0, 0)),
        (dt.datetime(2026, 1, 10, 20, 0), NY, utc(2026, 1, 11, 1, 0)),
        (dt.datetime(2026, 7, 10, 20, 0), LONDON, utc(2026, 7, 10, 19, 0)),
        (dt.datetime(2026, 12, 10, 20, 0), LA, utc(2026, 12, 11, 4, 0)),
    ],
)
def test_local_times_become_utc_instants(
    local: dt.datetime, zone: str, expected: dt.datetime
) -> None:
    """Ordinary wall-clock times convert with the zone's offset on that date."""
    result = local_to_utc(local, zone)
    assert result == expected
    assert result.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("local", "zone", "expected", "shown"),
    [
        # US spring forward 2026-03-08 02:00 → 03:00: 02:30 does not exist
        (dt.datetime(2026, 3, 8, 2, 30), NY, utc(2026, 3, 8, 7, 30), "03:30"),
        (dt.datetime(2026, 3, 8, 2, 0), LA, utc(2026, 3, 8, 10, 0), "03:00"),
        # EU spring forward 2026-03-29: London 01:00 → 02:00, Paris 02:00 → 03:00
        (dt.datetime(2026, 3, 29, 1, 30), LONDON, utc(2026, 3, 29, 1, 30), "02:30"),
        (dt.datetime(2026, 3, 29, 2, 15), PARIS, utc(2026, 3, 29, 1, 15), "03:15"),
    ],
)
def test_times_in_a_dst_gap_move_forward_by_the_gap(
    local: dt.datetime, zone: str, expected: dt.datetime, shown: str
) -> None:
    """A wall-clock time skipped by spring-forward is shifted forward by the gap."""
    result = local_to_utc(local, zone)
    assert result == expected
    assert result.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M") == shown


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        # US fall back 2026-11-01 02:00 → 01:00: 01:30 happens twice (EDT, then EST)
        (dt.datetime(2026, 11, 1, 1, 30), NY, utc(2026, 11, 1, 5, 30)),
        (dt.datetime(2026, 11, 1, 1, 59), LA, utc(2026, 11, 1, 8, 59)),
        # EU fall back 2026-10-25: London 02:00 → 01:00, Paris 03:00 → 02:00
        (dt.datetime(2026, 10, 25, 1, 30), LONDON, utc(2026, 10, 25, 0, 30)),
        (dt.datetime(2026, 10, 25, 2, 30), PARIS, utc(2026, 10, 25, 0, 30)),
    ],
)
def test_ambiguous_times_are_their_first_occurrence(
    local: dt.datetime, zone: str, expected: dt.datetime
) -> None:
    """A wall-clock time repeated by fall-back is its first (summer-time) occurrence."""
    assert local_to_utc(local, zone) == expected


def test_aware_input_is_a_programming_error() -> None:
    """local_to_utc takes naive wall-clock times only."""
    with pytest.raises(ValueError, match="naive"):
        local_to_utc(utc(2026, 7, 10, 20, 0), NY)


def test_unknown_zone_is_a_record_reject() -> None:
    """An unknown zone name is RecordRejected('unknown_timezone')."""
    with pytest.raises(RecordRejected) as info:
        local_to_utc(dt.datetime(2026, 7, 10, 20, 0), "America/Gotham")
    assert info.value.reason == "unknown_timezone"


def test_local_midnight_on_dst_days() -> None:
    """Local midnight is a different UTC hour before and after a DST change."""
    assert local_midnight(dt.date(2026, 3, 8), NY) == utc(2026, 3, 8, 5, 0)
    assert local_midnight(dt.date(2026, 3, 9), NY) == utc(2026, 3, 9, 4, 0)
    assert local_midnight(dt.date(2026, 10, 25), LONDON) == utc(2026, 10, 24, 23, 0)
    assert local_midnight(dt.date(2026, 10, 26), LONDON) == utc(2026, 10, 26, 0, 0)


def test_midnight_inside_a_gap_is_the_end_of_the_gap() -> None:
    """Where DST starts at midnight (Santiago), the day begins at 01:00 local."""
    start = local_midnight(dt.date(2026, 9, 6), "America/Santiago")
    assert start.astimezone(zoneinfo.ZoneInfo("America/Santiago")).hour == 1


@pytest.mark.parametrize(
    ("first", "last", "zone", "hours"),
    [
        (dt.date(2026, 3, 8), None, NY, 23),
        (dt.date(2026, 11, 1), dt.date(2026, 11, 1), NY, 25),
        (dt.date(2026, 3, 29), None, LONDON, 23),
        (dt.date(2026, 6, 5), dt.date(2026, 6, 7), NY, 72),
        (dt.date(2026, 10, 24), dt.date(2026, 10, 26), PARIS, 73),
        (dt.date(2026, 6, 5), dt.date(2026, 6, 1), NY, 24),
    ],
)
def test_all_day_spans_cover_whole_local_days(
    first: dt.date, last: dt.date | None, zone: str, hours: int
) -> None:
    """All-day and multi-day events run from local midnight to the midnight after the last
    day, however long DST makes those days; a last day before the first means one day."""
    start, end = all_day_span(first, last, zone)
    assert start == local_midnight(first, zone)
    assert end - start == dt.timedelta(hours=hours)


# --------------------------------------------------------------------------- zones


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (40.750504, -73.993439, NY),
        (34.112224, -118.339128, LA),
        (51.50093, -0.177398, LONDON),
        (48.8566, 2.3522, PARIS),
        (30.0, -40.0, None),  # mid-Atlantic
        (0.0, 0.0, None),
        (91.0, 0.0, None),
        (math.nan, 0.0, None),
        (None, -73.99, None),
    ],
)
def test_zone_for_coordinates(lat: float | None, lon: float | None, expected: str | None) -> None:
    """Coordinates give their IANA zone offline; the sea and bad points give None."""
    assert zone_for(lat, lon) == expected


def test_resolve_zone_prefers_the_event_then_the_venue_then_coordinates() -> None:
    """An existing zone is kept; else the venue's; else the one at the coordinates."""
    placed = event(lat=40.750504, lon=-73.993439)
    assert resolve_zone(event(timezone=LA, lat=40.75, lon=-73.99), NY).timezone == LA
    assert resolve_zone(placed, "America/Chicago").timezone == "America/Chicago"
    assert resolve_zone(placed).timezone == NY
    assert resolve_zone(placed, "Not/AZone").timezone == NY


def test_resolve_zone_leaves_an_event_without_clues_unchanged() -> None:
    """No venue zone and no coordinates: the very same event comes back."""
    bare = event()
    assert resolve_zone(bare) is bare


def test_resolve_zone_does_not_move_the_instant() -> None:
    """Filling the zone never changes starts_at or ends_at."""
    e = event(lat=37.7983, lon=-122.2760, ends_at=utc(2026, 6, 14, 6, 30))
    resolved = resolve_zone(e)
    assert resolved.timezone == LA
    assert (resolved.starts_at, resolved.ends_at) == (e.starts_at, e.ends_at)


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (25, 75, (25.0, 75.0)),
        (25.5, 75.25, (25.5, 75.25)),
        ("25.00", "75.00", (25.0, 75.0)),
        ("1,250.50", "2,000", (1250.5, 2000.0)),
        ("25,50", None, (25.5, None)),
        ("$25", "75 USD", (25.0, 75.0)),
        (" 10 ", "", (10.0, None)),
        (None, 40, (None, 40.0)),
        (80, 20, (20.0, 80.0)),
        (10.005, 10.015, (10.0, 10.02)),
    ],
)
def test_prices_from_numbers_and_strings(
    low: object, high: object, expected: tuple[float | None, float | None]
) -> None:
    """Numbers and numeric strings become major-unit floats; min > max are swapped;
    a missing side stays missing."""
    price_min, price_max, currency, _ = normalise_price(low, high, "USD")
    assert (price_min, price_max) == expected
    assert currency == "USD"


@pytest.mark.parametrize(
    "bad", [-5, "-5", math.nan, math.inf, True, "abc", "1.250,50", 10**12, "1e400", [25]]
)
def test_bad_prices_are_dropped(bad: object) -> None:
    """Negative, non-finite, boolean, absurd or unparseable prices become None."""
    assert normalise_price(bad, bad, "USD")[:2] == (None, None)


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (2500, "USD", 25.0),
        ("2500", "EUR", 25.0),
        (2500, "JPY", 2500.0),
        (25000, "KWD", 25.0),
        (12345, "BHD", 12.345),
        (2500, None, 25.0),
        (2550.5, "USD", None),
    ],
)
def test_minor_units_use_the_currency_exponent(
    value: object, currency: str | None, expected: float | None
) -> None:
    """Minor units divide by 10^exponent (JPY 0, KWD/BHD 3, others and unknown 2)."""
    assert normalise_price(value, None, currency, minor_units=True)[0] == expected


def test_exponents() -> None:
    """The ISO 4217 minor-unit exponents the normaliser relies on."""
    assert [minor_unit_exponent(c) for c in ("USD", "JPY", "KWD", "GBP", None)] == [2, 0, 3, 2, 2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("usd", "USD"), (" eur", "EUR"), ("XYZ", None), ("XAU", None), ("", None), (840, None)],
)
def test_currency_codes_are_validated(value: object, expected: str | None) -> None:
    """Currencies are ISO 4217 codes for money (not metals or test codes), upper-cased."""
    assert currency_code(value) == expected
    assert normalise_price(10, 20, value)[2] == expected


@pytest.mark.parametrize(
    ("low", "high", "flag", "expected"),
    [
        (None, None, True, True),  # the provider says free
        (None, None, False, False),  # the provider says not free
        (15, 25, True, True),  # the provider's flag wins
        (0, 0, None, True),  # max == 0
        (None, "0.00", None, True),
        ("Free", None, None, True),
        (0, 10, None, None),  # free and paid tiers: not stated
        (15, None, None, False),  # a price above zero
        (None, None, None, None),  # nothing known: never guessed free
    ],
)
def test_is_free_is_stated_or_follows_a_zero_maximum(
    low: object, high: object, flag: bool | None, expected: bool | None
) -> None:
    """is_free comes from the provider, or a zero maximum; missing prices never mean free."""
    assert normalise_price(low, high, "USD", is_free=flag)[3] == expected
