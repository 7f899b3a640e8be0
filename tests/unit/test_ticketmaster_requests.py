"""Ticketmaster requests, paging and error bodies."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any

import pytest

from scenescout_cli.errors import (
    SourceAuthError,
    SourceError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from scenescout_cli.model import Area, City, Query, Window
from scenescout_cli.sources.ticketmaster import TicketmasterSource, geohash

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "ticketmaster"
# The key echoed by the quota fixture's faultstring.
KEY = "fixtureKey7QpX2vLm9RtY4wZb8NcD3"
NYC = Area(40.7306, -73.9866, 25.0)
JULY = Window(
    dt.datetime(2026, 7, 1, 4, 0, tzinfo=dt.UTC), dt.datetime(2026, 8, 1, 4, 0, tzinfo=dt.UTC)
)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def query(area: Area = NYC, window: Window = JULY) -> Query:
    return Query(source="ticketmaster", area=area, window=window)


def body(total: int, size: int, number: int, n_records: int) -> dict[str, Any]:
    """A successful page body with ``n_records`` stub events."""
    events = [{"id": f"ev{number:03d}{i:04d}"} for i in range(n_records)]
    result: dict[str, Any] = {
        "page": {
            "size": size,
            "totalElements": total,
            "totalPages": -(-total // size),
            "number": number,
        },
    }
    if events:
        result["_embedded"] = {"events": events}
    return result


# ---------------------------------------------------------------- requests


def test_request_parameters() -> None:
    """The first page request carries every search parameter in the documented format."""
    req = TicketmasterSource(KEY).request(query(), None)
    assert (req.method, req.path) == ("GET", "/events.json")
    assert req.params == {
        "apikey": KEY,
        "geoPoint": "dr5rsqu8g",
        "radius": "25",
        "unit": "km",
        "startDateTime": "2026-07-01T04:00:00Z",
        "endDateTime": "2026-08-01T04:00:00Z",
        "size": "200",
        "page": "0",
        "sort": "id,asc",
        "includeTBA": "no",
        "includeTBD": "no",
    }
    assert req.secret_params == frozenset({"apikey"})


def test_apikey_is_the_only_secret_and_not_in_repr() -> None:
    """The key is sent as a declared secret parameter and never appears in reprs."""
    source = TicketmasterSource(KEY)
    req = source.request(query(), None)
    assert KEY not in repr(source)
    assert KEY not in repr(req.headers)
    assert [name for name, value in req.params.items() if value == KEY] == ["apikey"]
    assert "apikey" in req.secret_params


@pytest.mark.parametrize(
    ("start", "end", "sent_start", "sent_end"),
    [
        (
            dt.datetime(2026, 7, 1, 4, 0, 0, 123456, tzinfo=dt.UTC),
            dt.datetime(2026, 7, 2, 4, 0, 0, 1, tzinfo=dt.UTC),
            "2026-07-01T04:00:00Z",
            "2026-07-02T04:00:01Z",
        ),
        (
            dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "2026-06-30T22:00:00Z",
            "2027-01-01T04:59:59Z",
        ),
        (
            dt.datetime(2026, 1, 2, 3, 4, 5),
            dt.datetime(2026, 1, 3, 3, 4, 5),
            "2026-01-02T03:04:05Z",
            "2026-01-03T03:04:05Z",
        ),
    ],
)
def test_dates_are_whole_second_utc(
    start: dt.datetime, end: dt.datetime, sent_start: str, sent_end: str
) -> None:
    """Dates are sent as YYYY-MM-DDTHH:mm:ssZ in UTC; the window is widened to whole seconds."""
    req = TicketmasterSource(KEY).request(query(window=Window(start, end)), None)
    assert (req.params["startDateTime"], req.params["endDateTime"]) == (sent_start, sent_end)


@pytest.mark.parametrize(
    ("radius_km", "sent"), [(25.0, "25"), (12.2, "13"), (0.3, "1"), (40.0, "40")]
)
def test_radius_is_whole_km_rounded_up(radius_km: float, sent: str) -> None:
    """The radius is sent in km, rounded up to a whole number so the area stays covered."""
    req = TicketmasterSource(KEY).request(query(area=Area(40.73, -73.99, radius_km)), None)
    assert (req.params["radius"], req.params["unit"]) == (sent, "km")


@pytest.mark.parametrize(
    ("lat", "lon", "precision", "expected"),
    [
        (57.64911, 10.40744, 11, "u4pruydqqvj"),
        (42.6, -5.6, 5, "ezs42"),
        (37.7749, -122.4194, 12, "9q8yyk8ytpxr"),
        (40.7306, -73.9866, 9, "dr5rsqu8g"),
        (-90.0, -180.0, 9, "000000000"),
        (90.0, 180.0, 9, "zzzzzzzzz"),
    ],
)
def test_geohash_known_values(lat: float, lon: float, precision: int, expected: str) -> None:
    """The geohash encoder matches published reference values."""
    assert geohash(lat, lon, precision) == expected


def test_geohash_default_precision_is_nine() -> None:
    """Without a precision, the geohash has 9 characters."""
    assert geohash(57.64911, 10.40744) == "u4pruydqq"


@pytest.mark.parametrize(("lat", "lon", "precision"), [(91, 0, 9), (0, 181, 9), (0, 0, 0)])
def test_geohash_rejects_bad_input(lat: float, lon: float, precision: int) -> None:
    """Points off the Earth and empty precisions are ValueErrors."""
    with pytest.raises(ValueError, match=r"."):
        geohash(lat, lon, precision)


def test_page_size_is_sent_and_capped() -> None:
    """size is the page size; sizes above 200 or not dividing 1000 are refused."""
    assert TicketmasterSource(KEY, page_size=100).request(query(), None).params["size"] == "100"
    for bad in (0, 201, 500, 150):
        with pytest.raises(ValueError, match="page_size"):
            TicketmasterSource(KEY, page_size=bad)


def test_empty_key_is_refused() -> None:
    """An empty key is a ValueError, not a request that will fail later."""
    with pytest.raises(ValueError, match="key"):
        TicketmasterSource(" ")


def test_cursor_is_the_page_number() -> None:
    """The cursor is sent as the 0-based page parameter."""
    source = TicketmasterSource(KEY)
    assert source.request(query(), None).params["page"] == "0"
    assert source.request(query(), 3).params["page"] == "3"


def test_plan_is_one_query_over_the_city() -> None:
    """For now, plan covers the whole city area and window with one query."""
    city = City(
        slug="nyc", name="New York City", area=NYC, timezone="America/New_York", country="US"
    )
    assert TicketmasterSource(KEY).plan(city, JULY) == [query()]


# ---------------------------------------------------------------- paging


def crawl(total: int, size: int) -> list[int]:
    """The page numbers a driver requests, following next_cursor from page 0."""
    source = TicketmasterSource(KEY, page_size=size)
    requested: list[int] = []
    cursor: int | None = None
    while True:
        page_no = int(source.request(query(), cursor).params["page"])
        requested.append(page_no)
        n = max(0, min(size, total - page_no * size))
        cursor = source.parse_page(query(), cursor, 200, body(total, size, page_no, n)).next_cursor
        if cursor is None:
            return requested


@pytest.mark.parametrize(
    ("total", "size", "pages"),
    [
        (5000, 200, [0, 1, 2, 3, 4]),
        (1000, 200, [0, 1, 2, 3, 4]),
        (1001, 200, [0, 1, 2, 3, 4]),
        (401, 200, [0, 1, 2]),
        (400, 200, [0, 1]),
        (0, 200, [0]),
        (10, 200, [0]),
        (100_000, 8, list(range(125))),
    ],
)
def test_paging_stops_at_last_page_or_cap(total: int, size: int, pages: list[int]) -> None:
    """Pages are followed while they exist and (page + 1) * size stays within 1000."""
    assert crawl(total, size) == pages


def test_nyc_page_fixture() -> None:
    """The NYC fixture page yields its 8 events, the total and page 1 next."""
    page = TicketmasterSource(KEY, page_size=8).parse_page(
        query(), None, 200, load("page_nyc_0.json")
    )
    assert len(page.records) == 8
    assert page.total == 1240
    assert page.next_cursor == 1


def test_empty_page_without_embedded() -> None:
    """A page without _embedded has no records, total 0 and no next page."""
    page = TicketmasterSource(KEY).parse_page(query(), None, 200, load("page_empty.json"))
    assert (page.records, page.next_cursor, page.total) == ([], None, 0)


def test_empty_events_end_paging_even_if_total_says_more() -> None:
    """A page with no events ends paging, whatever totalElements claims."""
    page = TicketmasterSource(KEY).parse_page(query(), 1, 200, body(900, 200, 1, 0))
    assert page.next_cursor is None
    assert page.total == 900


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "<html>busy</html>",
        {"_embedded": {"events": []}},
        {"page": {"totalElements": "12"}},
        {"page": {"totalElements": 3}, "_embedded": []},
        {"page": {"totalElements": 3}, "_embedded": {"events": {"id": "x"}}},
        {"page": {"totalElements": 3}, "_embedded": {"events": ["x"]}},
        {"page": {"totalElements": 1}, "fault": {}},
    ],
)
def test_unexpected_success_bodies(bad: Any) -> None:
    """A 200 whose body is not a HAL page is an UpstreamError."""
    with pytest.raises(UpstreamError):
        TicketmasterSource(KEY).parse_page(query(), None, 200, bad)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "fixture", "error", "fragment"),
    [
        (401, "error_invalid_key.json", SourceAuthError, "oauth.v2.InvalidApiKey"),
        (429, "error_quota.json", SourceQuotaError, "policies.ratelimit.QuotaViolation"),
        (429, "error_spike_arrest.json", SourceRateLimited, "SpikeArrestViolation"),
        (400, "error_paging_depth.json", UpstreamError, "DIS1035"),
        (400, "error_size.json", UpstreamError, "DIS1036"),
        (400, "error_date_format.json", UpstreamError, "DIS1015"),
    ],
)
def test_error_fixtures_map_to_exceptions(
    status: int, fixture: str, error: type[SourceError], fragment: str
) -> None:
    """Both error shapes map to the exception class the caller acts on, naming the code."""
    with pytest.raises(error) as info:
        TicketmasterSource(KEY).parse_page(query(), 2, status, load(fixture))
    assert type(info.value) is error
    assert info.value.source == "ticketmaster"
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_paging_depth_message_is_clear() -> None:
    """DIS1035 and DIS1024 say that paging went too deep and the query must be split."""
    source = TicketmasterSource(KEY)
    with pytest.raises(UpstreamError, match=r"DIS1035: paging too deep at page 6.*split"):
        source.parse_page(query(), 6, 400, load("error_paging_depth.json"))
    results_limit = {
        "errors": [{"code": "DIS1024", "detail": "Results limit exceeded.", "status": "400"}]
    }
    with pytest.raises(UpstreamError, match=r"DIS1024: paging too deep"):
        source.parse_page(query(), 50, 400, results_limit)


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (500, {"message": "Internal Server Error"}, UpstreamError),
        (502, "<html>Bad Gateway</html>", UpstreamError),
        (503, None, UpstreamError),
        (404, {"errors": [{"code": "DIS1004", "detail": "Resource not found"}]}, UpstreamError),
        (418, {}, UpstreamError),
        (301, None, UpstreamError),
        (401, None, SourceAuthError),
        (
            403,
            {"fault": {"faultstring": "Forbidden", "detail": {"errorcode": "x"}}},
            SourceAuthError,
        ),
        (429, None, SourceRateLimited),
        (
            400,
            {"fault": {"faultstring": "Bad", "detail": {"errorcode": "oauth.v2.InvalidApiKey"}}},
            SourceAuthError,
        ),
        (200, {"errors": [{"code": "DIS1001", "detail": "odd"}]}, UpstreamError),
    ],
)
def test_other_statuses(status: int, payload: Any, error: type[SourceError]) -> None:
    """Other statuses and bodies map to auth, rate-limit or upstream errors."""
    with pytest.raises(error) as info:
        TicketmasterSource(KEY).parse_page(query(), None, status, payload)
    assert type(info.value) is error
    assert str(status) in str(info.value)


LEAKY_BODIES = [
    (401, "error_invalid_key.json"),
    (429, "error_quota.json"),
    (429, "error_spike_arrest.json"),
    (400, "error_paging_depth.json"),
    (400, "error_size.json"),
    (400, "error_date_format.json"),
]


@pytest.mark.parametrize(("status", "fixture"), LEAKY_BODIES)
def test_key_never_in_messages(status: int, fixture: str) -> None:
    """No error message contains the key, even when the provider echoes it."""
    with pytest.raises(SourceError) as info:
        TicketmasterSource(KEY).parse_page(query(), None, status, load(fixture))
    assert KEY not in str(info.value)
    assert KEY.lower() not in str(info.value).lower()


def test_quota_identifier_is_scrubbed_for_any_key() -> None:
    """The quota faultstring's Identifier is redacted even if it is not our exact key."""
    with pytest.raises(SourceQuotaError) as info:
        TicketmasterSource("some-other-key").parse_page(
            query(), None, 429, load("error_quota.json")
        )
    assert KEY not in str(info.value)
    assert "Identifier : [redacted]" in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        {"errors": [{"code": "DIS1015", "detail": f"bad date in /events.json?apikey={KEY}&x=1"}]},
        {"errors": [{"code": "DIS1015", "detail": f"key {KEY} rejected"}]},
        {"errors": [{"code": KEY, "detail": "x"}]},
        {
            "fault": {
                "faultstring": f"Invalid ApiKey for given resource: {KEY.upper()}",
                "detail": {"errorcode": "oauth.v2.InvalidApiKey"},
            }
        },
        {"fault": {"faultstring": "x", "detail": {"errorcode": KEY}}},
    ],
)
def test_key_scrubbed_from_any_provider_text(payload: dict[str, Any]) -> None:
    """The key is removed from codes and details wherever the provider puts it."""
    for status in (400, 401, 429, 500):
        with pytest.raises(SourceError) as info:
            TicketmasterSource(KEY).parse_page(query(), None, status, payload)
        assert KEY.lower() not in str(info.value).lower()


def test_long_provider_text_is_one_short_line() -> None:
    """Provider details are collapsed to one line and truncated."""
    payload = {"errors": [{"code": "DIS1015", "detail": "line one\nline two " + "x" * 1000}]}
    with pytest.raises(UpstreamError) as info:
        TicketmasterSource(KEY).parse_page(query(), None, 400, payload)
    message = str(info.value)
    assert "\n" not in message
    assert "line one line two" in message
    assert len(message) < 400
