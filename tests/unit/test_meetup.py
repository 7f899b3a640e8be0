"""Meetup GraphQL: planning, request bodies, relay paging, error mapping, normalisation."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
from typing import Any

import pytest

from scenescout_cli.errors import (
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
    UpstreamError,
)
from scenescout_cli.model import Area, City, Query, Window
from scenescout_cli.sources.meetup import SEARCH_PHRASES, MeetupSource

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "meetup"
TOKEN = "mtp-fixture-Tok3n-9fQ2xLw7RzY4vB8n"
SOURCE = MeetupSource(TOKEN)
FETCHED_AT = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
NYC = Area(40.7306, -73.9866, 25.0)
DECEMBER = Window(
    dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, 5, 0, tzinfo=dt.UTC)
)
NYC_CITY = City("nyc", "New York City", NYC, "America/New_York", "US")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def search(phrase: str = "music", area: Area = NYC, window: Window = DECEMBER) -> Query:
    return Query(source="meetup", area=area, window=window, target=f"search:{phrase}")


def feed() -> Query:
    return Query(source="meetup", area=NYC, window=DECEMBER)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def nodes(name: str) -> dict[str, dict[str, Any]]:
    edges = load(name)["data"]["eventSearch"]["edges"]
    return {edge["node"]["token"]: edge["node"] for edge in edges}


def node(token: str) -> dict[str, Any]:
    found = {**nodes("page_nyc_0.json"), **nodes("page_nyc_1.json")}
    return copy.deepcopy(found[token])


def minimal(**changes: Any) -> dict[str, Any]:
    """An in-person event in New York with the given fields replaced."""
    record: dict[str, Any] = {
        "token": "300000001",
        "title": "A Meetup",
        "dateTime": "2026-12-03T18:30:00-05:00",
        "eventType": "PHYSICAL",
        "venues": [
            {"name": "Somewhere", "lat": 40.73, "lon": -73.99, "venueType": "", "country": "us"}
        ],
        "group": {"timezone": "US/Eastern"},
    }
    record.update(changes)
    return record


def connection(
    n: int, *, has_next: bool, end_cursor: str | None = "Y3Vyc29y", total: int | None = 900
) -> dict[str, Any]:
    """An eventSearch body with ``n`` stub nodes."""
    edges = [{"cursor": f"c{i}", "node": {"token": f"4000{i:05d}"}} for i in range(n)]
    return {
        "data": {
            "eventSearch": {
                "totalCount": total,
                "pageInfo": {"hasNextPage": has_next, "endCursor": end_cursor},
                "edges": edges,
            }
        }
    }


# ---------------------------------------------------------------- planning


def test_plan_is_one_search_per_phrase_then_the_area_feed() -> None:
    """plan emits one eventSearch query per phrase over the city, then a recommendedEvents one."""
    queries = SOURCE.plan(NYC_CITY, DECEMBER)
    assert [q.target for q in queries] == [*(f"search:{p}" for p in SEARCH_PHRASES), None]
    assert all(q.area == NYC and q.window == DECEMBER and q.source == "meetup" for q in queries)


def test_plan_uses_custom_phrases_once_each() -> None:
    """Custom phrases are stripped and de-duplicated; blank ones are refused."""
    source = MeetupSource(TOKEN, phrases=["jazz", " jazz ", "chess"])
    assert [q.target for q in source.plan(NYC_CITY, DECEMBER)] == [
        "search:jazz",
        "search:chess",
        None,
    ]
    with pytest.raises(ValueError, match="phrases"):
        MeetupSource(TOKEN, phrases=["jazz", " "])


# ---------------------------------------------------------------- requests


def test_search_request_is_a_graphql_post_to_the_base_url() -> None:
    """A search page is a POST to the endpoint itself with the documented filter variables."""
    req = SOURCE.request(search("jazz"), None)
    assert (req.method, req.path, req.params) == ("POST", "", {})
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.json["variables"] == {
        "filter": {
            "query": "jazz",
            "lat": 40.7306,
            "lon": -73.9866,
            "radius": 16.0,
            "startDateRange": "2026-12-01T05:00:00+00:00",
            "endDateRange": "2027-01-01T05:00:00+00:00",
            "doConsolidateEvents": False,
        },
        "first": 50,
    }
    document = req.json["query"]
    assert "eventSearch(filter: $filter, first: $first, after: $after" in document
    assert "pageInfo { hasNextPage endCursor }" in document
    assert "token" in document
    assert "going" not in document  # not in gql-ext


def test_feed_request_uses_recommended_events_without_a_phrase() -> None:
    """target=None asks recommendedEvents for the area, with no query phrase."""
    req = SOURCE.request(feed(), None)
    assert "recommendedEvents(filter: $filter" in req.json["query"]
    assert "RecommendedEventsFilter!" in req.json["query"]
    assert req.json["variables"]["filter"] == {
        "lat": 40.7306,
        "lon": -73.9866,
        "radius": 16.0,
        "startDateRange": "2026-12-01T05:00:00+00:00",
        "endDateRange": "2027-01-01T05:00:00+00:00",
    }


def test_token_is_only_in_the_authorization_header() -> None:
    """The token is sent as a bearer header only and never appears in reprs or the body."""
    req = SOURCE.request(search(), "2:Y3Vyc29y")
    assert TOKEN not in repr(SOURCE)
    assert TOKEN not in repr(req)
    assert TOKEN not in json.dumps(req.json)
    assert req.secret_params == frozenset()
    assert [k for k, v in req.headers.items() if TOKEN in v] == ["Authorization"]


def test_cursor_carries_the_relay_cursor() -> None:
    """A cursor "<page>:<endCursor>" sends after=endCursor; the first page sends no after."""
    assert "after" not in SOURCE.request(search(), None).json["variables"]
    req = SOURCE.request(search(), "2:MzEyNDA4ODE3OjE3OTU3MTk2MDAwMDA=")
    assert req.json["variables"]["after"] == "MzEyNDA4ODE3OjE3OTU3MTk2MDAwMDA="


@pytest.mark.parametrize("bad", [0, "Y3Vyc29y", "0:abc", "x:abc", "3:", ["1", "abc"]])
def test_foreign_cursors_are_refused(bad: Any) -> None:
    """Cursors this adapter did not make are programming errors."""
    with pytest.raises(ValueError, match="cursor"):
        SOURCE.request(search(), bad)


@pytest.mark.parametrize("target", ["organizer:1", "search:", "search:  ", "music"])
def test_foreign_targets_are_refused(target: str) -> None:
    """Only "search:<phrase>" and None are Meetup targets."""
    query = Query(source="meetup", area=NYC, window=DECEMBER, target=target)
    with pytest.raises(ValueError, match="target"):
        SOURCE.request(query, None)


@pytest.mark.parametrize(
    ("radius_km", "miles"),
    [(25.0, 16.0), (1.0, 1.0), (0.2, 1.0), (16.09344, 10.0), (16.1, 11.0), (40.0, 25.0)],
)
def test_radius_is_whole_miles_rounded_up(radius_km: float, miles: float) -> None:
    """The km radius is sent in miles, rounded up so the area stays covered."""
    req = SOURCE.request(search(area=Area(40.73, -73.99, radius_km)), None)
    assert req.json["variables"]["filter"]["radius"] == miles


@pytest.mark.parametrize(
    ("start", "end", "sent_start", "sent_end"),
    [
        (
            dt.datetime(2026, 12, 1, 5, 0, 0, 999999, tzinfo=dt.UTC),
            dt.datetime(2026, 12, 2, 5, 0, 0, 1, tzinfo=dt.UTC),
            "2026-12-01T05:00:00+00:00",
            "2026-12-02T05:00:01+00:00",
        ),
        (
            dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2026-12-01T05:00:00+00:00",
            "2026-12-31T22:00:00+00:00",
        ),
        (
            dt.datetime(2026, 12, 1, 3, 4, 5),
            dt.datetime(2026, 12, 2, 3, 4, 5),
            "2026-12-01T03:04:05+00:00",
            "2026-12-02T03:04:05+00:00",
        ),
    ],
)
def test_window_is_sent_in_utc_whole_seconds(
    start: dt.datetime, end: dt.datetime, sent_start: str, sent_end: str
) -> None:
    """Dates are ISO-8601 with a +00:00 offset, widened to whole seconds; naive means UTC."""
    req = SOURCE.request(search(window=Window(start, end)), None)
    sent = req.json["variables"]["filter"]
    assert (sent["startDateRange"], sent["endDateRange"]) == (sent_start, sent_end)


def test_page_size_and_token_are_validated() -> None:
    """first is the page size; sizes above 100 or not dividing 200 and blank tokens are refused."""
    assert (
        MeetupSource(TOKEN, page_size=20).request(search(), None).json["variables"]["first"] == 20
    )
    for bad in (0, 30, 200, 101):
        with pytest.raises(ValueError, match="page_size"):
            MeetupSource(TOKEN, page_size=bad)
    with pytest.raises(ValueError, match="token"):
        MeetupSource("  ")


# ---------------------------------------------------------------- paging


def crawl(pages_available: int, size: int = 50) -> list[int]:
    """The page numbers a driver fetches when the server has ``pages_available`` full pages."""
    source = MeetupSource(TOKEN, page_size=size)
    fetched: list[int] = []
    cursor: str | None = None
    while True:
        number = 0 if cursor is None else int(cursor.split(":")[0])
        fetched.append(number)
        body = connection(size, has_next=number + 1 < pages_available, end_cursor=f"cur{number}")
        cursor = source.parse_page(search(), cursor, 200, body).next_cursor
        if cursor is None:
            return fetched


@pytest.mark.parametrize(
    ("available", "size", "fetched"),
    [
        (1, 50, [0]),
        (3, 50, [0, 1, 2]),
        (4, 50, [0, 1, 2, 3]),
        (40, 50, [0, 1, 2, 3]),
        (100, 20, list(range(10))),
        (100, 100, [0, 1]),
    ],
)
def test_paging_follows_cursors_up_to_the_cap(
    available: int, size: int, fetched: list[int]
) -> None:
    """Pages are followed while hasNextPage holds and the next page starts within 200 results."""
    assert crawl(available, size) == fetched


def test_next_cursor_numbers_the_page_and_keeps_the_relay_cursor() -> None:
    """The next cursor is "<next page>:<endCursor>"."""
    page = SOURCE.parse_page(search(), "1:abc", 200, connection(50, has_next=True))
    assert page.next_cursor == "2:Y3Vyc29y"
    assert page.total == 900


def test_first_fixture_page() -> None:
    """The NYC first page yields its 5 events, the total and the next cursor."""
    page = SOURCE.parse_page(search(), None, 200, load("page_nyc_0.json"))
    assert [r["token"] for r in page.records] == [
        "312377104",
        "312380552",
        "312399017",
        "312402778",
        "312408817",
    ]
    assert page.total == 7
    assert page.next_cursor == "1:MzEyNDA4ODE3OjE3OTU3MTk2MDAwMDA="


def test_feed_pages_are_read_from_recommended_events() -> None:
    """A recommendedEvents query reads data.recommendedEvents, not eventSearch."""
    body = {"data": {"recommendedEvents": connection(2, has_next=False)["data"]["eventSearch"]}}
    assert len(SOURCE.parse_page(feed(), None, 200, body).records) == 2
    with pytest.raises(UpstreamError, match="recommendedEvents"):
        SOURCE.parse_page(feed(), None, 200, load("page_nyc_0.json"))


def test_empty_page_ends_paging_even_if_has_next() -> None:
    """A page without edges ends paging, whatever hasNextPage says."""
    page = SOURCE.parse_page(search(), None, 200, connection(0, has_next=True))
    assert (page.records, page.next_cursor) == ([], None)


def test_has_next_without_end_cursor_is_an_upstream_error() -> None:
    """hasNextPage true with no endCursor cannot be followed: the body is malformed."""
    with pytest.raises(UpstreamError, match="endCursor"):
        SOURCE.parse_page(search(), None, 200, connection(3, has_next=True, end_cursor=None))


def test_missing_or_odd_total_is_none() -> None:
    """totalCount absent or not a count gives total None (the planner then never splits)."""
    body = connection(2, has_next=False, total=None)
    assert SOURCE.parse_page(search(), None, 200, body).total is None
    body["data"]["eventSearch"]["totalCount"] = "12"
    assert SOURCE.parse_page(search(), None, 200, body).total is None


def test_partial_data_keeps_the_resolved_records() -> None:
    """Errors next to usable data are field-level: the page is kept, null nodes skipped."""
    page = SOURCE.parse_page(search(), None, 200, load("page_partial.json"))
    assert [r["token"] for r in page.records] == ["312429844"]
    assert page.next_cursor is None


def test_partial_data_with_auth_wording_is_still_kept() -> None:
    """A field-level 'not authorized' next to data does not stop the source."""
    body = connection(2, has_next=False)
    body["errors"] = [{"message": "Not authorized to view rsvps", "path": ["eventSearch"]}]
    assert len(SOURCE.parse_page(search(), None, 200, body).records) == 2


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "<html>busy</html>",
        {},
        {"data": None},
        {"data": {"eventSearch": None}},
        {"data": {"eventSearch": {"edges": {}, "pageInfo": {}}}},
        {"data": {"eventSearch": {"edges": []}}},
    ],
)
def test_unexpected_success_bodies(bad: Any) -> None:
    """A 200 whose body is not an eventSearch connection is an UpstreamError."""
    with pytest.raises(UpstreamError):
        SOURCE.parse_page(search(), None, 200, bad)


# ---------------------------------------------------------------- errors


def gql_error(message: str, code: str | None = None, key: str = "code") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["extensions"] = {key: code}
    return {"errors": [error], "data": None}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, load("error_auth_graphql.json"), SourceAuthError),
        (401, load("error_http_401.json"), SourceAuthError),
        (401, None, SourceAuthError),
        (403, {"message": "Forbidden"}, SourceAuthError),
        (200, gql_error("Something", "UNAUTHENTICATED"), SourceAuthError),
        (200, gql_error("Your access token has expired"), SourceAuthError),
        (400, gql_error("Invalid token"), SourceAuthError),
        (200, load("error_rate_limited.json"), SourceRateLimited),
        (429, None, SourceRateLimited),
        (429, load("error_rate_limited.json"), SourceRateLimited),
        (200, gql_error("Too Many Requests"), SourceRateLimited),
        (200, gql_error("Slow down", "THROTTLED"), SourceRateLimited),
        (200, load("error_validation.json"), UpstreamError),
        (503, load("error_deprecated_endpoint.json"), UpstreamError),
        (500, None, UpstreamError),
        (502, "<html>Bad gateway</html>", UpstreamError),
        (404, None, UpstreamError),
        (500, gql_error("Internal server error"), UpstreamError),
    ],
)
def test_error_mapping(status: int, body: Any, kind: type[SourceError]) -> None:
    """Auth, rate-limit and other failures map to their SourceError classes, in one line."""
    with pytest.raises(SourceError) as caught:
        SOURCE.parse_page(search(), None, status, body)
    assert type(caught.value) is kind
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("meetup: ")


def test_upstream_errors_carry_status_and_code() -> None:
    """A GraphQL validation error keeps graphql-java's classification as its code."""
    with pytest.raises(UpstreamError) as caught:
        SOURCE.parse_page(search(), None, 200, load("error_validation.json"))
    assert (caught.value.status, caught.value.code) == (200, "ValidationError")
    assert "going" in str(caught.value)
    with pytest.raises(UpstreamError) as caught:
        SOURCE.parse_page(search(), None, 503, load("error_deprecated_endpoint.json"))
    assert caught.value.status == 503
    assert "deprecated" in str(caught.value)


@pytest.mark.parametrize("status", [200, 401, 429, 500])
def test_token_never_appears_in_error_messages(status: int) -> None:
    """Provider text that echoes the token or a bearer header is scrubbed."""
    body = gql_error(f"Bad credentials {TOKEN} (Authorization: Bearer {TOKEN}x)\nretry")
    with pytest.raises(SourceError) as caught:
        SOURCE.parse_page(search(), None, status, body)
    message = str(caught.value)
    assert TOKEN not in message
    assert "\n" not in message
    assert "[redacted]" in message


def test_long_provider_messages_are_truncated() -> None:
    """Provider text is cut to one short line."""
    with pytest.raises(UpstreamError) as caught:
        SOURCE.parse_page(search(), None, 200, gql_error("x" * 5000, "BAD_REQUEST"))
    assert len(str(caught.value)) < 400


# ---------------------------------------------------------------- normalisation


def test_fixture_events_all_normalise_to_utc() -> None:
    """Every event on both fixture pages normalises with its token and a UTC start."""
    for record in [*nodes("page_nyc_0.json").values(), *nodes("page_nyc_1.json").values()]:
        event = SOURCE.normalise(record, FETCHED_AT)
        assert event.source == "meetup"
        assert event.source_id == record["token"]
        assert event.raw is record
        assert event.fetched_at == FETCHED_AT
        assert event.starts_at is not None
        assert event.starts_at.utcoffset() == dt.timedelta(0)


def test_full_event() -> None:
    """A complete in-person event: exact instants, canonical zone, venue, free, photo."""
    event = SOURCE.normalise(node("312377104"), FETCHED_AT)
    assert event.title == "NYC Python: December Project Night"
    assert event.starts_at == utc(2026, 12, 3, 23, 30)
    assert event.ends_at == utc(2026, 12, 4, 2, 0)
    assert event.timezone == "America/New_York"
    assert event.description is not None
    assert event.description.startswith("Bring a laptop")
    assert "**Schedule**" in event.description
    assert event.venue_name == "Civic Hall"
    assert event.address == "124 E 14th St"
    assert event.locality == "New York"
    assert event.postal_code == "10003"
    assert event.country == "US"
    assert (event.lat, event.lon) == (40.73386, -73.98885)
    assert (event.is_free, event.price_min, event.price_max, event.currency) == (
        True,
        None,
        None,
        None,
    )
    assert event.url == "https://www.meetup.com/nycpython/events/312377104/"
    assert event.image_url == (
        "https://secure-content.meetupstatic.com/images/classic-events/524911873/highres.jpeg"
    )
    assert event.status == "scheduled"
    assert event.category is None


def test_end_from_duration_and_required_fee() -> None:
    """Without endTime the end is start + duration; a required fee is the price."""
    event = SOURCE.normalise(node("312380552"), FETCHED_AT)
    assert event.starts_at == utc(2026, 12, 6, 0, 0)
    assert event.ends_at == utc(2026, 12, 6, 3, 0)
    assert (event.is_free, event.price_min, event.price_max, event.currency) == (
        False,
        10.0,
        10.0,
        "USD",
    )
    assert event.image_url is None


def test_hybrid_event_uses_the_physical_venue_not_the_junk_coordinates() -> None:
    """A hybrid event takes the first in-person venue; the online one's coordinates are ignored."""
    event = SOURCE.normalise(node("312399017"), FETCHED_AT)
    assert event.venue_name == "Microsoft Times Square"
    assert (event.lat, event.lon) == (40.75662, -73.98996)
    assert event.postal_code == "10036"


def test_cancelled_event_and_placeholder_postal_code() -> None:
    """CANCELLED is cancelled; the "meetup1" placeholder postal code is dropped."""
    event = SOURCE.normalise(node("312402778"), FETCHED_AT)
    assert event.status == "cancelled"
    assert event.postal_code is None
    assert event.starts_at == utc(2026, 12, 10, 13, 0)


def test_optional_fee_is_free_with_a_suggested_price() -> None:
    """A fee that is not required leaves the event free, priced 0..amount; standardUrl as image."""
    event = SOURCE.normalise(node("312408817"), FETCHED_AT)
    assert (event.is_free, event.price_min, event.price_max, event.currency) == (
        True,
        0.0,
        15.0,
        "USD",
    )
    assert event.image_url is not None
    assert event.image_url.endswith("/524951006/676x380.jpg")
    assert event.ends_at == utc(2026, 12, 13, 2, 0)


def test_end_after_midnight_and_missing_end() -> None:
    """An end past local midnight is the next UTC day; no endTime nor duration means no end."""
    late = SOURCE.normalise(node("312415300"), FETCHED_AT)
    assert (late.starts_at, late.ends_at) == (utc(2026, 12, 19, 3, 30), utc(2026, 12, 19, 6, 0))
    run = SOURCE.normalise(node("312420993"), FETCHED_AT)
    assert (run.starts_at, run.ends_at) == (utc(2026, 12, 20, 14, 0), None)
    assert run.locality == "Queens"


@pytest.mark.parametrize(
    ("when", "instant"),
    [
        ("2027-03-14T03:30:00-04:00", utc(2027, 3, 14, 7, 30)),  # just after spring forward
        ("2027-03-14T01:30:00-05:00", utc(2027, 3, 14, 6, 30)),  # just before it
        ("2026-11-01T01:30:00-04:00", utc(2026, 11, 1, 5, 30)),  # fall back, first 01:30
        ("2026-11-01T01:30:00-05:00", utc(2026, 11, 1, 6, 30)),  # fall back, second 01:30
        ("2026-07-04T20:00:00-04:00", utc(2026, 7, 5, 0, 0)),
        ("2026-12-31T23:59:59-05:00", dt.datetime(2027, 1, 1, 4, 59, 59, tzinfo=dt.UTC)),
    ],
)
def test_offsets_give_exact_instants_across_dst(when: str, instant: dt.datetime) -> None:
    """The offset in dateTime decides the instant, on both sides of each DST change."""
    event = SOURCE.normalise(minimal(dateTime=when), FETCHED_AT)
    assert event.starts_at == instant
    assert event.timezone == "America/New_York"


def test_zone_that_does_not_match_the_offset_is_dropped() -> None:
    """A group zone with another offset at the start does not label the event."""
    record = minimal(group={"timezone": "Europe/London"})
    event = SOURCE.normalise(record, FETCHED_AT)
    assert event.starts_at == utc(2026, 12, 3, 23, 30)
    assert event.timezone is None


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("US/Pacific", None),  # -08:00 in December, the event says -05:00
        ("America/Toronto", "America/Toronto"),
        ("Mars/Olympus_Mons", None),
        (None, None),
        ("", None),
    ],
)
def test_group_zones(zone: str | None, expected: str | None) -> None:
    """Known zones matching the offset are kept; unknown or missing ones give None."""
    event = SOURCE.normalise(minimal(group={"timezone": zone}), FETCHED_AT)
    assert event.timezone == expected
    assert event.starts_at == utc(2026, 12, 3, 23, 30)


def test_naive_date_time_is_local_to_the_group_zone() -> None:
    """A dateTime without offset is read in the group's zone; without a zone it is rejected."""
    event = SOURCE.normalise(minimal(dateTime="2027-06-01T19:00:00"), FETCHED_AT)
    assert event.starts_at == utc(2027, 6, 1, 23, 0)
    with pytest.raises(RecordRejected) as caught:
        SOURCE.normalise(minimal(dateTime="2027-06-01T19:00:00", group={}), FETCHED_AT)
    assert caught.value.reason == "missing_timezone"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing_start"),
        ("2026-12-03", "bad_date"),
        ("Thu Dec 3 18:30", "bad_date"),
        ("2026-13-03T18:30:00-05:00", "bad_date"),
        (1796340600000, "bad_date"),
    ],
)
def test_bad_starts_are_rejected(value: Any, reason: str) -> None:
    """A missing, date-only or unreadable dateTime rejects the record."""
    with pytest.raises(RecordRejected) as caught:
        SOURCE.normalise(minimal(dateTime=value), FETCHED_AT)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("changes", "ends_at"),
    [
        ({"endTime": "2026-12-03T17:00:00-05:00"}, None),  # before the start
        ({"endTime": "soon", "duration": "PT1H"}, utc(2026, 12, 4, 0, 30)),
        ({"duration": "P1DT2H"}, utc(2026, 12, 5, 1, 30)),
        ({"duration": "PT90M"}, utc(2026, 12, 4, 1, 0)),
        ({"duration": "PT0S"}, None),
        ({"duration": "P1DT"}, None),
        ({"duration": "two hours"}, None),
        ({"endTime": "2026-12-04T01:00:00Z"}, utc(2026, 12, 4, 1, 0)),
    ],
)
def test_end_rules(changes: dict[str, Any], ends_at: dt.datetime | None) -> None:
    """endTime, else start + duration; unreadable or backwards ends are dropped, not rejected."""
    assert SOURCE.normalise(minimal(**changes), FETCHED_AT).ends_at == ends_at


def test_online_events_are_rejected() -> None:
    """ONLINE events, and events listing only online venues, are rejected as online_event."""
    online_venue = {
        "name": "Online event",
        "lat": -8.521147,
        "lon": 179.1962,
        "venueType": "online",
    }
    for record in (
        minimal(eventType="ONLINE"),
        minimal(eventType=None, venues=[online_venue]),
        minimal(eventType="ONLINE", venues=[online_venue]),
    ):
        with pytest.raises(RecordRejected) as caught:
            SOURCE.normalise(record, FETCHED_AT)
        assert caught.value.reason == "online_event"


def test_in_person_event_without_a_usable_venue_is_kept() -> None:
    """A hybrid event listing only its online venue, or no venues at all, is kept without place."""
    online_venue = {
        "name": "Online event",
        "lat": -8.521147,
        "lon": 179.1962,
        "venueType": "online",
    }
    for record in (minimal(eventType="HYBRID", venues=[online_venue]), minimal(venues=None)):
        event = SOURCE.normalise(record, FETCHED_AT)
        assert (event.venue_name, event.lat, event.lon) == (None, None, None)


@pytest.mark.parametrize(
    ("venue", "lat", "lon", "country", "postal"),
    [
        ({"lat": 0, "lon": 0, "country": "us", "postalCode": "10001"}, None, None, "US", "10001"),
        ({"lat": 95.0, "lon": 10.0, "country": "usa"}, None, None, None, None),
        (
            {"lat": "40.7", "lon": "-73.9", "country": "gb", "postalCode": "EC1A 1BB"},
            None,
            None,
            "GB",
            "EC1A 1BB",
        ),
        (
            {"lat": 40.7, "lon": -73.9, "country": "us", "postalCode": "1000"},
            40.7,
            -73.9,
            "US",
            None,
        ),
        ({"lat": 40.7, "lon": -73.9, "country": "de", "postalCode": "al"}, 40.7, -73.9, "DE", None),
    ],
)
def test_venue_values_are_checked(
    venue: dict[str, Any],
    lat: float | None,
    lon: float | None,
    country: str | None,
    postal: str | None,
) -> None:
    """Placeholder coordinates, bad countries and garbage postal codes become None."""
    event = SOURCE.normalise(minimal(venues=[{"name": "V", "venueType": "", **venue}]), FETCHED_AT)
    assert (event.lat, event.lon, event.country, event.postal_code) == (lat, lon, country, postal)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("ACTIVE", "scheduled"),
        ("PAST", "scheduled"),
        ("CANCELLED_PERM", "cancelled"),
        (None, "scheduled"),
    ],
)
def test_statuses(status: str | None, expected: str) -> None:
    """Active and past events are scheduled; both cancelled statuses are cancelled."""
    assert SOURCE.normalise(minimal(status=status), FETCHED_AT).status == expected


@pytest.mark.parametrize("status", ["DRAFT", "PROPOSED", "TEMPLATE", "AUTOSCHED_DRAFT", "BLOCKED"])
def test_unpublished_statuses_are_rejected(status: str) -> None:
    """Drafts, proposals, templates and blocked events are not public events."""
    with pytest.raises(RecordRejected) as caught:
        SOURCE.normalise(minimal(status=status), FETCHED_AT)
    assert caught.value.reason == "unpublished"


def test_the_stable_token_is_the_id_not_the_unstable_id() -> None:
    """source_id is the token; a record with only the unstable id is rejected."""
    event = SOURCE.normalise(minimal(id="999", token="300000777"), FETCHED_AT)
    assert event.source_id == "300000777"
    record = minimal(id="999")
    del record["token"]
    assert SOURCE.record_id(record) is None
    with pytest.raises(RecordRejected) as caught:
        SOURCE.normalise(record, FETCHED_AT)
    assert caught.value.reason == "missing_id"


@pytest.mark.parametrize(
    ("fees", "expected"),
    [
        ({"amount": 0.0, "currency": "USD", "required": True}, (None, None, None, True)),
        ({"amount": -5, "currency": "USD", "required": True}, (None, None, None, None)),
        ({"amount": 12.5, "currency": "usd", "required": True}, (12.5, 12.5, "USD", False)),
        ({"amount": 12.5, "currency": "dollars"}, (12.5, 12.5, None, False)),
        ("free", (None, None, None, None)),
    ],
)
def test_fee_settings(fees: Any, expected: tuple[Any, ...]) -> None:
    """Zero fees are free; unreadable fee settings say nothing; currencies are upper-cased."""
    event = SOURCE.normalise(minimal(feeSettings=fees), FETCHED_AT)
    assert (event.price_min, event.price_max, event.currency, event.is_free) == expected


def test_malformed_fixture_records() -> None:
    """The malformed fixture rejects a blank title, an online event, a bad date and no token."""
    reasons = []
    for record in load("record_malformed.json"):
        with pytest.raises(RecordRejected) as caught:
            SOURCE.normalise(record, FETCHED_AT)
        reasons.append(caught.value.reason)
    assert reasons == ["missing_title", "online_event", "bad_date", "missing_id"]
