"""Yelp events: tiling, requests, offset paging, error bodies and normalisation."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import pathlib
from typing import Any

import pytest

from scenescout_cli.errors import (
    ConfigError,
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceQuotaError,
    SourceRateLimited,
    UpstreamError,
)
from scenescout_cli.model import Area, City, Query, Window
from scenescout_cli.pipeline.planner import haversine_km
from scenescout_cli.sources.yelp import YelpSource, tiles

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "yelp"
KEY = "yelpKey-7hQ2xW9mLp4RzV8nT1sK"
NYC = Area(40.7306, -73.9866, 25.0)
DECEMBER = Window(
    dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, 5, 0, tzinfo=dt.UTC)
)
FETCHED_AT = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
SOURCE = YelpSource(KEY)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def query(area: Area = NYC, window: Window = DECEMBER) -> Query:
    return Query(source="yelp", area=area, window=window)


def city(radius_km: float) -> City:
    return City(
        slug="test",
        name="Test",
        area=Area(40.7306, -73.9866, radius_km),
        timezone="America/New_York",
        country="US",
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def record(event_id: str) -> dict[str, Any]:
    for name in ("page_first.json", "page_last.json"):
        for rec in load(name)["events"]:
            if rec["id"] == event_id:
                return copy.deepcopy(rec)
    raise KeyError(event_id)


def body(total: int, n_records: int) -> dict[str, Any]:
    return {"total": total, "events": [{"id": f"event-{i}"} for i in range(n_records)]}


# ---------------------------------------------------------------- planning


def test_small_city_is_one_query() -> None:
    """A city within the 40 km radius limit is one query over its whole area."""
    assert SOURCE.plan(city(25.0), DECEMBER) == [query(Area(40.7306, -73.9866, 25.0))]
    assert len(SOURCE.plan(city(40.0), DECEMBER)) == 1


def test_city_wider_than_40_km_is_tiled() -> None:
    """A 60 km city becomes tiles of at most 40 km that together cover it, same window."""
    big = city(60.0)
    queries = SOURCE.plan(big, DECEMBER)
    assert len(queries) == 16  # quartered twice: 60 → ~42.5 → ~30 km
    assert all(q.area.radius_km <= 40.0 for q in queries)
    assert all(q.window == DECEMBER and q.source == "yelp" and q.target is None for q in queries)
    assert len({q.key for q in queries}) == len(queries)
    # every point of the city disc (sampled on rings) lies in some tile
    centre = big.area
    for ring in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
        for step in range(72):
            bearing = math.radians(step * 5)
            distance = centre.radius_km * ring
            lat = centre.lat + math.degrees(distance / 6371.0088) * math.cos(bearing)
            lon = centre.lon + math.degrees(distance / 6371.0088) * math.sin(bearing) / math.cos(
                math.radians(centre.lat)
            )
            if haversine_km(centre.lat, centre.lon, lat, lon) > centre.radius_km:
                continue
            assert any(
                haversine_km(q.area.lat, q.area.lon, lat, lon) <= q.area.radius_km for q in queries
            ), (ring, step)


def test_tiles_honour_a_custom_limit() -> None:
    """tiles quarters until every circle is within the given radius."""
    assert tiles(NYC, 25.0) == [NYC]
    small = tiles(NYC, 10.0)
    assert len(small) == 64  # 25 → ~17.7 → ~12.5 → ~8.9 km
    assert all(t.radius_km <= 10.0 for t in small)


def test_blank_key_is_refused() -> None:
    """A blank key is a ConfigError, not a request that fails later."""
    with pytest.raises(ConfigError, match="YELP_API_KEY"):
        YelpSource(" ")


# ---------------------------------------------------------------- requests


def test_request_parameters() -> None:
    """The first page request carries every search parameter in the documented units."""
    req = SOURCE.request(query(), None)
    assert (req.method, req.path) == ("GET", "/events")
    assert req.params == {
        "latitude": "40.730600",
        "longitude": "-73.986600",
        "radius": "25000",
        "start_date": "1796101200",
        "end_date": "1798779600",
        "sort_on": "time_start",
        "sort_by": "asc",
        "limit": "50",
        "offset": "0",
    }
    assert dt.datetime.fromtimestamp(1796101200, dt.UTC) == DECEMBER.start
    assert dt.datetime.fromtimestamp(1798779600, dt.UTC) == DECEMBER.end


def test_key_only_in_the_authorization_header() -> None:
    """The key is a bearer header: never a query parameter, never in reprs."""
    req = SOURCE.request(query(), 100)
    assert req.headers == {"Authorization": f"Bearer {KEY}"}
    assert KEY not in json.dumps(req.params)
    assert req.secret_params == frozenset()
    assert KEY not in repr(req)
    assert KEY not in repr(SOURCE)


@pytest.mark.parametrize(
    ("radius_km", "sent"),
    [(25.0, "25000"), (12.2, "12200"), (0.0004, "1"), (40.0, "40000"), (30.0600301, "30061")],
)
def test_radius_is_whole_metres_rounded_up(radius_km: float, sent: str) -> None:
    """The radius is sent in metres, rounded up so the tile stays covered, at most 40 000."""
    assert SOURCE.request(query(Area(40.73, -73.99, radius_km)), None).params["radius"] == sent


def test_window_is_widened_to_whole_unix_seconds() -> None:
    """start_date is floored and end_date ceiled to whole seconds; naive datetimes are UTC."""
    window = Window(
        dt.datetime(2026, 12, 1, 0, 0, 0, 900_000, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(2026, 12, 2, 5, 0, 0, 1),
    )
    params = SOURCE.request(query(window=window), None).params
    assert params["start_date"] == "1796101200"
    assert params["end_date"] == str(1796101200 + 86400 + 1)


@pytest.mark.parametrize(
    ("cursor", "offset", "limit"),
    [
        (None, "0", "50"),
        (50, "50", "50"),
        (950, "950", "50"),
        (980, "980", "20"),
        (999, "999", "1"),
    ],
)
def test_limit_keeps_offset_plus_limit_within_1000(
    cursor: int | None, offset: str, limit: str
) -> None:
    """The cursor is the offset; limit shrinks near the end so offset + limit <= 1000."""
    params = SOURCE.request(query(), cursor).params
    assert (params["offset"], params["limit"]) == (offset, limit)


@pytest.mark.parametrize("cursor", [1000, 1200, -1])
def test_offsets_outside_the_cap_are_refused(cursor: int) -> None:
    """An offset at or past 1000, or negative, is a programming error (ValueError)."""
    with pytest.raises(ValueError, match="offset"):
        SOURCE.request(query(), cursor)


# ---------------------------------------------------------------- paging


def crawl(total: int, page_size: int = 50) -> list[int]:
    """The offsets a driver requests, following next_cursor from offset 0."""
    offsets: list[int] = []
    cursor: int | None = None
    while True:
        params = SOURCE.request(query(), cursor).params
        offset, limit = int(params["offset"]), int(params["limit"])
        assert offset + limit <= 1000
        offsets.append(offset)
        n = max(0, min(limit, page_size, total - offset))
        cursor = SOURCE.parse_page(query(), cursor, 200, body(total, n)).next_cursor
        if cursor is None:
            return offsets


@pytest.mark.parametrize(
    ("total", "offsets"),
    [
        (0, [0]),
        (7, [0]),
        (50, [0]),
        (51, [0, 50]),
        (137, [0, 50, 100]),
        (1000, list(range(0, 1000, 50))),
        (5000, list(range(0, 1000, 50))),
    ],
)
def test_paging_stops_at_the_total_or_the_cap(total: int, offsets: list[int]) -> None:
    """Offsets advance while below both the total and 1000."""
    assert crawl(total) == offsets


def test_short_pages_advance_by_what_was_returned() -> None:
    """When Yelp returns fewer than limit, the next offset starts right after them: no gaps."""
    offsets = crawl(100, page_size=30)
    assert offsets == [0, 30, 60, 90]


def test_empty_page_ends_paging_whatever_total_says() -> None:
    """A page with no events ends paging even if total claims more."""
    page = SOURCE.parse_page(query(), 100, 200, body(900, 0))
    assert (page.next_cursor, page.total) == (None, 900)


def test_fixture_pages() -> None:
    """The first, last and empty pages give their events, totals and cursors."""
    first = SOURCE.parse_page(query(), None, 200, load("page_first.json"))
    assert (len(first.records), first.total, first.next_cursor) == (6, 137, 6)
    last = SOURCE.parse_page(query(), 50, 200, load("page_last.json"))
    assert (len(last.records), last.total, last.next_cursor) == (6, 56, None)
    empty = SOURCE.parse_page(query(), None, 200, load("page_empty.json"))
    assert (empty.records, empty.total, empty.next_cursor) == ([], 0, None)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "<html>busy</html>",
        {"events": []},
        {"total": "12", "events": []},
        {"total": -1, "events": []},
        {"total": 3, "events": {"id": "x"}},
        {"total": 3, "events": ["x"]},
    ],
)
def test_unexpected_success_bodies(bad: Any) -> None:
    """A 200 whose body is not a search result is an UpstreamError."""
    with pytest.raises(UpstreamError, match="unexpected response body"):
        SOURCE.parse_page(query(), None, 200, bad)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "fixture", "error", "code"),
    [
        (401, "error_token_invalid.json", SourceAuthError, "TOKEN_INVALID"),
        (401, "error_unauthorized_token.json", SourceAuthError, "UNAUTHORIZED_ACCESS_TOKEN"),
        (400, "error_token_missing.json", SourceAuthError, "TOKEN_MISSING"),
        (429, "error_daily_limit.json", SourceQuotaError, "ACCESS_LIMIT_REACHED"),
        (429, "error_per_second.json", SourceRateLimited, "TOO_MANY_REQUESTS_PER_SECOND"),
        (400, "error_validation.json", UpstreamError, "VALIDATION_ERROR"),
        (500, "error_internal.json", UpstreamError, "INTERNAL_ERROR"),
    ],
)
def test_error_fixtures_map_to_exceptions(
    status: int, fixture: str, error: type[SourceError], code: str
) -> None:
    """Error bodies map, by code, to the class the caller acts on; both 429s are told apart."""
    with pytest.raises(error) as info:
        SOURCE.parse_page(query(), 100, status, load(fixture))
    assert type(info.value) is error
    assert info.value.source == "yelp"
    assert code in str(info.value)
    assert str(status) in str(info.value)
    assert "\n" not in str(info.value)


def test_upstream_errors_carry_status_and_code() -> None:
    """UpstreamError keeps the HTTP status and Yelp's code."""
    with pytest.raises(UpstreamError) as info:
        SOURCE.parse_page(query(), None, 400, load("error_validation.json"))
    assert (info.value.status, info.value.code) == (400, "VALIDATION_ERROR")
    assert "40000" in str(info.value)


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (500, None, UpstreamError),
        (502, "<html>Bad Gateway</html>", UpstreamError),
        (503, {"error": {"code": "SERVICE_UNAVAILABLE"}}, UpstreamError),
        (400, {"error": {"code": "AREA_TOO_LARGE", "description": "x"}}, UpstreamError),
        (404, {"error": {"code": "NOT_FOUND", "description": "x"}}, UpstreamError),
        (418, {}, UpstreamError),
        (401, None, SourceAuthError),
        (403, {"error": {"code": "FORBIDDEN", "description": "plan"}}, SourceAuthError),
        (429, None, SourceRateLimited),
        (200, {"error": {"code": "INTERNAL_ERROR", "description": "odd"}}, UpstreamError),
    ],
)
def test_other_statuses(status: int, payload: Any, error: type[SourceError]) -> None:
    """Other statuses and bodies map to auth, rate-limit or upstream errors naming the status."""
    with pytest.raises(error) as info:
        SOURCE.parse_page(query(), None, status, payload)
    assert type(info.value) is error
    assert str(status) in str(info.value)


@pytest.mark.parametrize(
    "description",
    [
        f"key {KEY} is not valid",
        f"Authorization: Bearer {KEY.lower()}",
        "header was: Bearer some-other-key-value",
    ],
)
def test_key_scrubbed_from_provider_text(description: str) -> None:
    """The key and any bearer value are removed from every message."""
    payload = {"error": {"code": "TOKEN_INVALID", "description": description}}
    for status in (400, 401, 429, 500):
        with pytest.raises(SourceError) as info:
            SOURCE.parse_page(query(), None, status, payload)
        message = str(info.value)
        assert KEY.lower() not in message.lower()
        assert "some-other-key-value" not in message


def test_long_provider_text_is_one_short_line() -> None:
    """Provider descriptions are collapsed to one line and truncated."""
    payload = {"error": {"code": "VALIDATION_ERROR", "description": "one\ntwo " + "x" * 1000}}
    with pytest.raises(UpstreamError) as info:
        SOURCE.parse_page(query(), None, 400, payload)
    assert "\n" not in str(info.value)
    assert "one two" in str(info.value)
    assert len(str(info.value)) < 400


# ---------------------------------------------------------------- normalisation


def test_full_event_with_offsets() -> None:
    """An ISO time with offset is its instant; place, prices, category and clean URL are kept."""
    event = SOURCE.normalise(record("new-york-holiday-songbook-night-at-rockwood"), FETCHED_AT)
    assert event.source == "yelp"
    assert event.source_id == "new-york-holiday-songbook-night-at-rockwood"
    assert event.title == "Holiday Songbook Night: Lower East Side Singer-Songwriters"
    assert event.starts_at == utc(2026, 12, 4, 0, 0)
    assert event.ends_at == utc(2026, 12, 4, 3, 0)
    assert event.timezone is None
    assert event.venue_name is None
    assert event.address == "196 Allen St"
    assert (event.locality, event.postal_code, event.country) == ("New York", "10002", "US")
    assert (event.lat, event.lon) == (40.7223, -73.98882)
    assert (event.category, event.tags) == ("music", ("music",))
    assert (event.price_min, event.price_max, event.currency, event.is_free) == (
        15.0,
        20.0,
        "USD",
        False,
    )
    assert event.url == "https://www.yelp.com/events/new-york-holiday-songbook-night-at-rockwood"
    assert event.image_url is not None
    assert event.image_url.endswith("/o.jpg")
    assert event.status == "scheduled"
    assert event.fetched_at == FETCHED_AT


def test_naive_start_takes_the_offset_of_the_end() -> None:
    """A 'YYYY-MM-DD HH:mm' start is read at the UTC offset the record's end carries."""
    event = SOURCE.normalise(record("new-york-late-night-jazz-jam-at-the-django"), FETCHED_AT)
    assert event.starts_at == utc(2026, 12, 6, 1, 0)
    assert event.ends_at == utc(2026, 12, 6, 4, 30)
    assert event.timezone is None


def test_naive_times_take_the_zone_of_the_coordinates() -> None:
    """Local start and end with no zone in the record are read in the zone at its coordinates."""
    rec = record("brooklyn-holiday-makers-market-industry-city")
    rec.update(time_start="2026-12-05 20:00", time_end=None)
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.timezone == "America/New_York"
    assert event.starts_at == utc(2026, 12, 6, 1, 0)


def test_naive_times_without_zone_or_coordinates_are_rejected() -> None:
    """Local times with no zone anywhere and no coordinates: missing_timezone."""
    rec = record("brooklyn-holiday-makers-market-industry-city")
    rec.update(latitude=None, longitude=None)
    with pytest.raises(RecordRejected) as info:
        SOURCE.normalise(rec, FETCHED_AT)
    assert info.value.reason == "missing_timezone"


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-07-04 21:00", utc(2026, 7, 5, 1, 0)),  # EDT
        ("2026-12-05 20:00", utc(2026, 12, 6, 1, 0)),  # EST
        ("2026-12-05 20-00", utc(2026, 12, 6, 1, 0)),  # the "HH-mm" wording
        ("2026-12-05T20:00", utc(2026, 12, 6, 1, 0)),
        ("2027-03-14 02:30", utc(2027, 3, 14, 7, 30)),  # in the spring gap: moved forward
        ("2026-11-01 01:30", utc(2026, 11, 1, 5, 30)),  # ambiguous: the first (EDT) one
    ],
)
def test_naive_times_in_the_records_zone(start: str, expected: dt.datetime) -> None:
    """With a timezone field, naive local times are read in that IANA zone, DST included."""
    rec = record("brooklyn-holiday-makers-market-industry-city")
    rec.update(time_start=start, time_end=None, timezone="America/New_York")
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.starts_at == expected
    assert event.timezone == "America/New_York"


def test_naive_end_takes_the_offset_of_the_start() -> None:
    """A local end after an ISO start with offset is read at the start's offset."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["time_end"] = "2026-12-03 22:00"
    assert SOURCE.normalise(rec, FETCHED_AT).ends_at == utc(2026, 12, 4, 3, 0)


def test_utc_designator_is_accepted() -> None:
    """An ISO time ending in Z is a UTC instant."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["time_start"], rec["time_end"] = "2026-12-04T00:00:00Z", None
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.starts_at, event.ends_at) == (utc(2026, 12, 4), None)


@pytest.mark.parametrize("end", [None, "", "soon", "2026-12-03T18:00:00-05:00"])
def test_missing_unreadable_or_early_end_is_none(end: str | None) -> None:
    """An end that is null, unreadable or before the start is unknown; the event is kept."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["time_end"] = end
    assert SOURCE.normalise(rec, FETCHED_AT).ends_at is None


@pytest.mark.parametrize(
    "start", ["2026-12-05", "next friday", "2026-02-30 20:00", "   ", 1796101200]
)
def test_unreadable_start_is_bad_date(start: Any) -> None:
    """A start without a time, in another format or impossible is rejected as bad_date."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["time_start"] = start
    with pytest.raises(RecordRejected) as info:
        SOURCE.normalise(rec, FETCHED_AT)
    assert info.value.reason == "bad_date"


def test_free_event_without_cost() -> None:
    """A free event without cost has no prices and no currency; an empty end is None."""
    event = SOURCE.normalise(
        record("new-york-bryant-park-winter-village-tree-lighting"), FETCHED_AT
    )
    assert (event.is_free, event.price_min, event.price_max, event.currency) == (
        True,
        None,
        None,
        None,
    )
    assert event.ends_at is None
    assert event.address == "Bryant Park, 6th Ave & W 42nd St"
    assert event.category == "community"


def test_cancelled_event() -> None:
    """is_canceled makes the status cancelled."""
    event = SOURCE.normalise(record("new-york-ugly-sweater-pub-crawl-east-village"), FETCHED_AT)
    assert (event.status, event.category) == ("cancelled", "nightlife")


def test_empty_address_lines_are_no_address() -> None:
    """Blank or null address lines give no address; the zip code likewise."""
    event = SOURCE.normalise(record("new-york-chelsea-gallery-walk-winter-openings"), FETCHED_AT)
    assert (event.address, event.postal_code, event.locality) == (None, None, "New York")
    assert event.starts_at == utc(2026, 12, 10, 23, 0)


def test_single_cost_and_swapped_costs() -> None:
    """cost alone is the minimum; a cost_max below cost is swapped."""
    event = SOURCE.normalise(record("new-york-family-science-saturday-winter-skies"), FETCHED_AT)
    assert (event.price_min, event.price_max, event.currency) == (28.0, None, "USD")
    rec = record("new-york-joes-pub-cabaret-night-december")
    rec["cost"], rec["cost_max"] = 45, 25.0
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.price_min, event.price_max) == (25.0, 45.0)


@pytest.mark.parametrize(("country", "currency"), [("GB", "GBP"), ("DE", "EUR"), ("ZZ", None)])
def test_currency_is_the_countrys(country: str, currency: str | None) -> None:
    """Prices carry no currency: the event country's local one is assumed when known."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["location"]["country"] = country
    assert SOURCE.normalise(rec, FETCHED_AT).currency == currency


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("music", "music"),
        ("visual-arts", "arts"),
        ("performing-arts", "theater"),
        ("film", "film"),
        ("lectures-books", "learning"),
        ("fashion", "arts"),
        ("food-and-drink", "food_drink"),
        ("festivals-fairs", "community"),
        ("charities", "community"),
        ("sports-active-life", "sports"),
        ("nightlife", "nightlife"),
        ("kids-family", "family"),
        ("other", "other"),
        ("something-new", None),
    ],
)
def test_categories(alias: str, expected: str | None) -> None:
    """Yelp's category aliases map to DESIGN categories; the alias is kept as a tag."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["category"] = alias
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.category, event.tags) == (expected, (alias,))


def test_url_falls_back_to_tickets_and_keeps_other_parameters() -> None:
    """Only tracking parameters are stripped; without event_site_url the tickets URL is used."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["event_site_url"] = (
        "https://www.yelp.com/events/x?hrid=abc&utm_source=client&adjust_creative=c"
    )
    assert SOURCE.normalise(rec, FETCHED_AT).url == "https://www.yelp.com/events/x?hrid=abc"
    rec["event_site_url"] = None
    assert SOURCE.normalise(rec, FETCHED_AT).url == "https://www.rockwoodmusichall.com/"
    rec["tickets_url"] = ""
    assert SOURCE.normalise(rec, FETCHED_AT).url is None


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (0, 0, (None, None)),
        (None, -73.9, (None, None)),
        (95.0, 10.0, (None, None)),
        ("40.75", "-73.98", (40.75, -73.98)),
    ],
)
def test_coordinates(lat: Any, lon: Any, expected: tuple[float | None, float | None]) -> None:
    """Coordinates are numbers (strings tolerated); missing, invalid and (0, 0) are None."""
    rec = record("new-york-holiday-songbook-night-at-rockwood")
    rec["latitude"], rec["longitude"] = lat, lon
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.lat, event.lon) == expected


def test_malformed_records_are_rejected_with_their_reason() -> None:
    """Each malformed fixture record is rejected for its one fault."""
    reasons = []
    for rec in load("record_malformed.json"):
        with pytest.raises(RecordRejected) as info:
            SOURCE.normalise(rec, FETCHED_AT)
        reasons.append(info.value.reason)
    assert reasons == [
        "missing_title",
        "missing_id",
        "missing_start",
        "bad_date",
        "missing_timezone",
        "unknown_timezone",
    ]
