"""Validation: every reject reason, its edge cases, and what is not a reason."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import attrs
import pytest

from scenescout_cli.enrich.validate import MAX_FUTURE, MAX_PAST, REASONS, validate
from scenescout_cli.errors import RecordRejected
from scenescout_cli.model import Event

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def event(**changes: Any) -> Event:
    base = Event(
        source="ticketmaster",
        source_id="vvG1IZ9pKx7Qa3",
        title="Harbor Lights",
        starts_at=dt.datetime(2026, 7, 11, 0, 0, tzinfo=dt.UTC),
        timezone="America/New_York",
        venue_name="Madison Square Garden",
        lat=40.750504,
        lon=-73.993439,
    )
    return attrs.evolve(base, **changes)


def reason(e: Event) -> str:
    with pytest.raises(RecordRejected) as info:
        validate(e, now=NOW)
    assert info.value.reason in REASONS
    assert info.value.detail
    return info.value.reason


def test_a_complete_event_is_valid() -> None:
    """A titled, dated, placed event passes without raising."""
    validate(event(), now=NOW)


@pytest.mark.parametrize("title", ["", "   ", "\t\n", "\u200b", "\x00\x07"])
def test_blank_titles_are_missing(title: str) -> None:
    """A title of whitespace, zero-width or control characters is ``missing_title``."""
    assert reason(event(title=title)) == "missing_title"


def test_title_is_checked_before_dates() -> None:
    """The first failing rule is reported: a title-less, date-less record is missing_title."""
    assert reason(event(title="", starts_at=None)) == "missing_title"


def test_no_start_without_tba_is_missing_start() -> None:
    """No start and no TBA/TBD flag is ``missing_start``."""
    assert reason(event(starts_at=None)) == "missing_start"


def test_tba_event_without_start_is_valid() -> None:
    """A provider-marked TBA event is kept without a start: dates are never invented."""
    validate(event(starts_at=None, date_tba=True), now=NOW)


@pytest.mark.parametrize(
    "starts_at",
    [
        NOW - MAX_PAST - dt.timedelta(minutes=1),
        NOW + MAX_FUTURE + dt.timedelta(minutes=1),
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2206, 7, 11, tzinfo=dt.UTC),
    ],
)
def test_starts_far_from_now_are_implausible(starts_at: dt.datetime) -> None:
    """Starts over two years back or five years ahead are ``implausible_date``."""
    assert reason(event(starts_at=starts_at)) == "implausible_date"


@pytest.mark.parametrize("starts_at", [NOW - MAX_PAST, NOW + MAX_FUTURE])
def test_starts_at_the_horizon_are_valid(starts_at: dt.datetime) -> None:
    """The horizons themselves are inside the plausible range."""
    validate(event(starts_at=starts_at, ends_at=None), now=NOW)


def test_end_before_start_is_implausible() -> None:
    """An end before the start is ``implausible_date``."""
    e = event(ends_at=dt.datetime(2026, 7, 10, 23, 0, tzinfo=dt.UTC))
    assert reason(e) == "implausible_date"


def test_end_equal_to_start_is_valid() -> None:
    """A zero-length event (end == start) is accepted."""
    e = event()
    validate(attrs.evolve(e, ends_at=e.starts_at), now=NOW)


def test_end_beyond_the_horizon_is_implausible() -> None:
    """An end more than five years ahead is ``implausible_date`` even with a good start."""
    assert reason(event(ends_at=NOW + MAX_FUTURE + dt.timedelta(days=1))) == "implausible_date"


def test_naive_start_is_implausible() -> None:
    """A start without UTC offset is not an instant: ``implausible_date``."""
    assert reason(event(starts_at=dt.datetime(2026, 7, 11, 20, 0))) == "implausible_date"


def test_unknown_zone_is_rejected() -> None:
    """A zone name that is not IANA is ``unknown_timezone``."""
    assert reason(event(timezone="Mars/Olympus_Mons")) == "unknown_timezone"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (90.5, -73.9),
        (-91.0, 0.5),
        (40.7, 180.01),
        (40.7, -181.0),
        (math.nan, -73.9),
        (40.7, math.inf),
        (0.0, 0.0),
        (40.7, None),
        (None, -73.9),
    ],
)
def test_impossible_coordinates_are_rejected(lat: float | None, lon: float | None) -> None:
    """Out of range, NaN/inf, the (0, 0) placeholder and half pairs are ``bad_coordinates``."""
    assert reason(event(lat=lat, lon=lon)) == "bad_coordinates"


@pytest.mark.parametrize(
    ("lat", "lon"), [(None, None), (90.0, 180.0), (-90.0, -180.0), (0.0, 6.5), (51.5, 0.0)]
)
def test_possible_coordinates_are_valid(lat: float | None, lon: float | None) -> None:
    """No coordinates, the extremes and points on the equator or meridian are fine."""
    validate(event(lat=lat, lon=lon), now=NOW)


def test_unknown_status_is_rejected() -> None:
    """A status outside the schema's set is ``bad_status`` (it would fail the insert)."""
    assert reason(event(status="onsale")) == "bad_status"


def test_bad_urls_and_currencies_are_not_reasons() -> None:
    """Bad URLs, currencies and prices are sanitisation's business, not rejects."""
    validate(event(url="javascript:alert(1)", currency="???", price_min=-5.0), now=NOW)


def test_naive_now_is_a_programming_error() -> None:
    """``now`` without a zone raises ValueError, not a reject."""
    with pytest.raises(ValueError, match="aware"):
        validate(event(), now=dt.datetime(2026, 6, 1))
