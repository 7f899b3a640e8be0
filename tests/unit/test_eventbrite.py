"""Eventbrite: planning, requests, continuation paging, error bodies and normalisation."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
from typing import Any

import pytest

from scenescout_cli.errors import (
    ConfigError,
    RecordRejected,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
    UpstreamError,
)
from scenescout_cli.model import Area, City, Query, Window
from scenescout_cli.sources.eventbrite import EventbriteSource

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "eventbrite"
TOKEN = "evbTok3nQ7wXz9Lm2Rp5"
ORG = "284917490331"
VENUE = "218734561"
NYC = Area(40.7306, -73.9866, 25.0)
CITY = City(slug="nyc", name="New York City", area=NYC, timezone="America/New_York", country="US")
DECEMBER = Window(
    dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, 5, 0, tzinfo=dt.UTC)
)
FETCHED_AT = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
SOURCE = EventbriteSource(TOKEN, organizers=(ORG,), venues=(VENUE,))


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def query(target: str = f"organizer:{ORG}", window: Window = DECEMBER) -> Query:
    return Query(source="eventbrite", area=NYC, window=window, target=target)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def records(name: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in load(name)["events"]}


def record(event_id: str) -> dict[str, Any]:
    for name in ("org_events_page_1.json", "org_events_page_2.json", "venue_events.json"):
        found = records(name).get(event_id)
        if found is not None:
            return copy.deepcopy(found)
    raise KeyError(event_id)


def listing(n: int, *, has_more: bool | None, continuation: str | None = None, **extra: Any) -> Any:
    """A listing page body with ``n`` stub events."""
    pagination: dict[str, Any] = {**extra}
    if has_more is not None:
        pagination["has_more_items"] = has_more
    if continuation is not None:
        pagination["continuation"] = continuation
    return {"pagination": pagination, "events": [{"id": f"{i:013d}"} for i in range(n)]}


# ---------------------------------------------------------------- construction and planning


def test_plan_is_one_query_per_organizer_then_venue() -> None:
    """plan lists each organizer, then each venue, over the whole city and window."""
    source = EventbriteSource(TOKEN, organizers=("11", "12"), venues=("21",))
    assert source.plan(CITY, DECEMBER) == [
        query("organizer:11"),
        query("organizer:12"),
        query("venue:21"),
    ]


def test_plan_keys_differ_per_target() -> None:
    """Each target's query has its own checkpoint key."""
    keys = {q.key for q in SOURCE.plan(CITY, DECEMBER)}
    assert len(keys) == 2
    assert all(key.endswith((f"organizer:{ORG}", f"venue:{VENUE}")) for key in keys)


def test_ids_are_stripped_and_deduplicated() -> None:
    """Ids are stripped, blanks dropped and repeats removed, first order kept."""
    source = EventbriteSource(TOKEN, organizers=(" 11", "12", "11", ""), venues="21, 22,21")
    assert source.organizers == ("11", "12")
    assert source.venues == ("21", "22")


@pytest.mark.parametrize("bad", ["12/../34", "12?x=1", "org 1", "../venues"])
def test_ids_that_would_change_the_path_are_refused(bad: str) -> None:
    """An id with path or query characters is a ConfigError naming its variable."""
    with pytest.raises(ConfigError, match="SCENESCOUT_EVENTBRITE_VENUES"):
        EventbriteSource(TOKEN, venues=(bad,))


def test_blank_token_is_refused() -> None:
    """A blank token is a ConfigError, not a request that fails later."""
    with pytest.raises(ConfigError, match="EVENTBRITE_TOKEN"):
        EventbriteSource("  ", organizers=(ORG,))


# ---------------------------------------------------------------- requests


def test_organization_request() -> None:
    """An organizer's first page lists the organization's current and future events."""
    req = SOURCE.request(query(), None)
    assert (req.method, req.path) == ("GET", f"/organizations/{ORG}/events/")
    assert req.params == {
        "status": "live,started,canceled",
        "order_by": "start_asc",
        "expand": "venue,ticket_availability,logo",
        "time_filter": "current_future",
    }


def test_venue_request_filters_by_start_in_utc() -> None:
    """A venue's first page sends the window as a UTC start range, widened to whole seconds."""
    window = Window(
        dt.datetime(2026, 12, 1, 0, 0, 0, 250_000, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(2026, 12, 31, 23, 59, 59, 1),
    )
    req = SOURCE.request(query(f"venue:{VENUE}", window), None)
    assert (req.method, req.path) == ("GET", f"/venues/{VENUE}/events/")
    assert req.params == {
        "status": "live,started,canceled",
        "order_by": "start_asc",
        "expand": "venue,ticket_availability,logo",
        "start_date.range_start": "2026-12-01T05:00:00Z",
        "start_date.range_end": "2027-01-01T00:00:00Z",
        "only_public": "true",
    }


def test_token_only_in_the_authorization_header() -> None:
    """The token is a bearer header: never a query parameter, never in reprs."""
    for target in (f"organizer:{ORG}", f"venue:{VENUE}"):
        req = SOURCE.request(query(target), {"seen": 50, "continuation": "abc"})
        assert req.headers == {"Authorization": f"Bearer {TOKEN}"}
        assert TOKEN not in json.dumps(req.params)
        assert "token" not in req.params
        assert req.secret_params == frozenset()
        assert TOKEN not in repr(req)
    assert TOKEN not in repr(SOURCE)


def test_cursor_adds_continuation_or_page() -> None:
    """A continuation cursor repeats the request with continuation; a page cursor with page."""
    first = SOURCE.request(query(), None).params
    by_token = SOURCE.request(query(), {"seen": 4, "continuation": "eyJwIjogMn0"}).params
    by_page = SOURCE.request(query(), {"seen": 4, "page": 2}).params
    assert by_token == {**first, "continuation": "eyJwIjogMn0"}
    assert by_page == {**first, "page": "2"}


def test_legacy_cursor_lists_the_organizer_endpoint() -> None:
    """After the organization endpoint's 404, the organizer endpoint is asked instead."""
    req = SOURCE.request(query(), {"seen": 0, "legacy": True})
    assert req.path == f"/organizers/{ORG}/events/"
    assert req.params == {
        "status": "live,started,canceled",
        "order_by": "start_asc",
        "expand": "venue,ticket_availability,logo",
    }
    assert req.headers == {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("target", [None, "city:nyc", "organizer:", "venue:1/2"])
def test_query_without_a_usable_target_fails_alone(target: str | None) -> None:
    """A query without an organizer/venue target is an UpstreamError: it fails, not the run."""
    with pytest.raises(UpstreamError, match="target"):
        SOURCE.request(Query("eventbrite", NYC, DECEMBER, target), None)


@pytest.mark.parametrize("cursor", [3, "abc", {"seen": -1}, {"page": 0}, {"continuation": 5}])
def test_malformed_cursor_is_a_programming_error(cursor: Any) -> None:
    """Cursors come only from parse_page; anything else is a TypeError or ValueError."""
    with pytest.raises((TypeError, ValueError)):
        SOURCE.request(query(), cursor)


# ---------------------------------------------------------------- paging


def crawl(page_sizes: list[int]) -> tuple[list[dict[str, str]], int]:
    """Follow continuation cursors over pages of the given sizes; (params sent, records)."""
    sent: list[dict[str, str]] = []
    cursor: Any = None
    seen = 0
    for number, size in enumerate(page_sizes):
        sent.append(SOURCE.request(query(), cursor).params)
        more = number + 1 < len(page_sizes)
        body = listing(size, has_more=more, continuation=f"tok{number + 1}")
        page = SOURCE.parse_page(query(), cursor, 200, body)
        seen += len(page.records)
        cursor = page.next_cursor
        if cursor is None:
            break
    return sent, seen


def test_continuation_paging_follows_has_more_items() -> None:
    """Pages are followed by continuation token while has_more_items is true."""
    sent, seen = crawl([50, 50, 7])
    assert [p.get("continuation") for p in sent] == [None, "tok1", "tok2"]
    assert seen == 107


def test_paging_stops_at_the_cap() -> None:
    """Continuation stops once page_cap records were fetched for a target (200 pages of 50)."""
    sent, seen = crawl([50] * 250)
    assert len(sent) == 200
    assert seen == EventbriteSource.page_cap == 10_000


def test_cap_counts_records_not_pages() -> None:
    """The cap is reached by records fetched, whatever the page sizes."""
    cursor = {"seen": 9_990, "continuation": "x"}
    page = SOURCE.parse_page(query(), cursor, 200, listing(9, has_more=True, continuation="y"))
    assert page.next_cursor == {"seen": 9_999, "continuation": "y"}
    page = SOURCE.parse_page(query(), cursor, 200, listing(10, has_more=True, continuation="y"))
    assert page.next_cursor is None


def test_page_numbers_when_there_is_no_continuation() -> None:
    """Without a continuation token, pages are numbered until page_count."""
    body = listing(50, has_more=None, page_number=1, page_count=3)
    page = SOURCE.parse_page(query(), None, 200, body)
    assert page.next_cursor == {"seen": 50, "page": 2}
    body = listing(50, has_more=None, page_number=3, page_count=3)
    assert SOURCE.parse_page(query(), {"seen": 100, "page": 3}, 200, body).next_cursor is None


def test_page_numbers_without_counts_go_on_until_empty() -> None:
    """Without counts or has_more_items, paging goes on until an empty page."""
    body = listing(50, has_more=None, page_number=4)
    page = SOURCE.parse_page(query(), {"seen": 150, "page": 4}, 200, body)
    assert page.next_cursor == {"seen": 200, "page": 5}
    empty = listing(0, has_more=None, page_number=5)
    assert SOURCE.parse_page(query(), page.next_cursor, 200, empty).next_cursor is None


def test_no_pagination_object_is_one_page() -> None:
    """A listing without a pagination object is a single page."""
    page = SOURCE.parse_page(query(), None, 200, {"events": [{"id": "1"}]})
    assert (len(page.records), page.next_cursor) == (1, None)


def test_empty_page_ends_paging_whatever_has_more_says() -> None:
    """A page with no events ends paging even with has_more_items true."""
    body = listing(0, has_more=True, continuation="again")
    assert (
        SOURCE.parse_page(query(), {"seen": 50, "continuation": "x"}, 200, body).next_cursor is None
    )


def test_legacy_flag_is_carried_through_paging() -> None:
    """Pages of the organizer endpoint keep pointing at it."""
    body = listing(50, has_more=True, continuation="next")
    page = SOURCE.parse_page(query(), {"seen": 0, "legacy": True}, 200, body)
    assert page.next_cursor == {"seen": 50, "continuation": "next", "legacy": True}
    assert SOURCE.request(query(), page.next_cursor).path == f"/organizers/{ORG}/events/"


@pytest.mark.parametrize(
    ("pagination", "total"),
    [
        ({"object_count": 6}, 6),
        ({"object_count": 0}, 0),
        ({"object_count": 10_000}, 10_000),
        ({"object_count": 10_001}, None),
        ({}, None),
        ({"object_count": "6"}, None),
    ],
)
def test_total_is_object_count_within_the_cap(
    pagination: dict[str, Any], total: int | None
) -> None:
    """total is object_count when given and within the cap: a target is never split."""
    page = SOURCE.parse_page(query(), None, 200, {"pagination": pagination, "events": []})
    assert page.total == total


def test_fixture_pages() -> None:
    """The organization's two pages, the venue page and the empty page parse as documented."""
    first = SOURCE.parse_page(query(), None, 200, load("org_events_page_1.json"))
    assert (len(first.records), first.total) == (4, 6)
    assert first.next_cursor == {
        "seen": 4,
        "continuation": "eyJwYWdlIjogMiwgIm9yZyI6ICIyODQ5MTc0OTAzMzEifQ",
    }
    last = SOURCE.parse_page(query(), first.next_cursor, 200, load("org_events_page_2.json"))
    assert (len(last.records), last.next_cursor, last.total) == (2, None, 6)
    venue = SOURCE.parse_page(query(f"venue:{VENUE}"), None, 200, load("venue_events.json"))
    assert (len(venue.records), venue.next_cursor, venue.total) == (3, None, None)
    empty = SOURCE.parse_page(query(), None, 200, load("page_empty.json"))
    assert (empty.records, empty.next_cursor, empty.total) == ([], None, 0)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "<html>busy</html>",
        {"pagination": {}},
        {"events": {"id": "1"}},
        {"events": ["1"]},
        {"events": [], "pagination": []},
    ],
)
def test_unexpected_success_bodies(bad: Any) -> None:
    """A 200 whose body is not an event listing is an UpstreamError."""
    with pytest.raises(UpstreamError, match="unexpected response body"):
        SOURCE.parse_page(query(), None, 200, bad)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "fixture", "error", "code"),
    [
        (401, "error_invalid_auth.json", SourceAuthError, "INVALID_AUTH"),
        (403, "error_not_authorized.json", SourceAuthError, "NOT_AUTHORIZED"),
        (429, "error_rate_limit.json", SourceRateLimited, "HIT_RATE_LIMIT"),
        (400, "error_bad_continuation.json", UpstreamError, "BAD_CONTINUATION_TOKEN"),
        (500, "error_expansion_failed.json", UpstreamError, "EXPANSION_FAILED"),
    ],
)
def test_error_fixtures_map_to_exceptions(
    status: int, fixture: str, error: type[SourceError], code: str
) -> None:
    """Error bodies map, by their code, to the exception class the caller acts on."""
    with pytest.raises(error) as info:
        SOURCE.parse_page(query(), {"seen": 4, "continuation": "x"}, status, load(fixture))
    assert type(info.value) is error
    assert info.value.source == "eventbrite"
    assert code in str(info.value)
    assert str(status) in str(info.value)
    assert "\n" not in str(info.value)


def test_upstream_errors_carry_status_and_code() -> None:
    """UpstreamError keeps the HTTP status and Eventbrite's code for the caller."""
    with pytest.raises(UpstreamError) as info:
        SOURCE.parse_page(query(), None, 500, load("error_expansion_failed.json"))
    assert (info.value.status, info.value.code) == (500, "EXPANSION_FAILED")


def test_auth_codes_win_over_status() -> None:
    """INVALID_AUTH is an auth failure even when sent with a 400."""
    body = {"error": "INVALID_AUTH", "error_description": "bad token", "status_code": 400}
    with pytest.raises(SourceAuthError):
        SOURCE.parse_page(query(), None, 400, body)


def test_organization_404_moves_to_the_organizer_endpoint_then_fails_alone() -> None:
    """An organization's first-page 404 tries the organizer endpoint; a second 404 fails it."""
    not_found = load("error_not_found.json")
    page = SOURCE.parse_page(query(), None, 404, not_found)
    assert (page.records, page.next_cursor) == ([], {"seen": 0, "legacy": True})
    assert SOURCE.request(query(), page.next_cursor).path == f"/organizers/{ORG}/events/"
    with pytest.raises(UpstreamError) as info:
        SOURCE.parse_page(query(), page.next_cursor, 404, not_found)
    assert (info.value.status, info.value.code) == (404, "NOT_FOUND")
    assert f"organizer:{ORG}" in str(info.value)


def test_venue_404_fails_the_target_at_once() -> None:
    """A venue that cannot be read is an UpstreamError with status 404 on the first try."""
    with pytest.raises(UpstreamError) as info:
        SOURCE.parse_page(query(f"venue:{VENUE}"), None, 404, load("error_not_found.json"))
    assert info.value.status == 404
    assert f"venue:{VENUE}" in str(info.value)


def test_404_mid_paging_is_an_error() -> None:
    """A 404 after the first page is not retried elsewhere: the target fails."""
    with pytest.raises(UpstreamError) as info:
        SOURCE.parse_page(query(), {"seen": 50, "continuation": "x"}, 404, None)
    assert info.value.status == 404


def test_bad_page_ends_paging_after_the_first_page() -> None:
    """BAD_PAGE on a follow-up page is the end of the listing; on a first page an error."""
    bad_page = load("error_bad_page.json")
    page = SOURCE.parse_page(query(), {"seen": 100, "page": 3}, 400, bad_page)
    assert (page.records, page.next_cursor) == ([], None)
    with pytest.raises(UpstreamError, match="BAD_PAGE"):
        SOURCE.parse_page(query(), None, 400, bad_page)


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (500, None, UpstreamError),
        (502, "<html>Bad Gateway</html>", UpstreamError),
        (503, {"error": "INTERNAL_ERROR", "error_description": "x"}, UpstreamError),
        (400, {"error": "ARGUMENTS_ERROR", "error_description": "x"}, UpstreamError),
        (418, {}, UpstreamError),
        (401, None, SourceAuthError),
        (403, "<html>Forbidden</html>", SourceAuthError),
        (429, None, SourceRateLimited),
        (200, {"error": "INTERNAL_ERROR", "error_description": "odd"}, UpstreamError),
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
        f"token {TOKEN} is not valid",
        f"GET /v3/organizations/1/events/?token={TOKEN}&expand=venue",
        f"Authorization: Bearer {TOKEN.upper()}",
        "bad header: Bearer some-other-token-value",
    ],
)
def test_token_scrubbed_from_provider_text(description: str) -> None:
    """The token, token= parameters and bearer values are removed from every message."""
    body = {"error": "INVALID_AUTH", "error_description": description, "status_code": 401}
    for status in (400, 401, 404, 429, 500):
        with pytest.raises(SourceError) as info:
            SOURCE.parse_page(query(), {"seen": 1, "page": 2}, status, body)
        message = str(info.value)
        assert TOKEN.lower() not in message.lower()
        assert "some-other-token-value" not in message


def test_long_provider_text_is_one_short_line() -> None:
    """Provider descriptions are collapsed to one line and truncated."""
    body = {"error": "ARGUMENTS_ERROR", "error_description": "one\ntwo " + "x" * 1000}
    with pytest.raises(UpstreamError) as info:
        SOURCE.parse_page(query(), None, 400, body)
    assert "\n" not in str(info.value)
    assert "one two" in str(info.value)
    assert len(str(info.value)) < 400


# ---------------------------------------------------------------- normalisation


def test_every_page_event_normalises_or_is_online() -> None:
    """Each fixture event becomes an Event with UTC instants; the online one is rejected."""
    for name in ("org_events_page_1.json", "org_events_page_2.json", "venue_events.json"):
        for rec in records(name).values():
            if rec["online_event"]:
                with pytest.raises(RecordRejected, match="online_event"):
                    SOURCE.normalise(rec, FETCHED_AT)
                continue
            event = SOURCE.normalise(rec, FETCHED_AT)
            assert (event.source, event.source_id) == ("eventbrite", rec["id"])
            assert event.starts_at is not None
            assert event.starts_at.utcoffset() == dt.timedelta(0)
            assert event.raw is rec


def test_full_event() -> None:
    """A concert keeps its instants, zone, venue, string coordinates, prices and original logo."""
    event = SOURCE.normalise(record("1098234561207"), FETCHED_AT)
    assert event.title == "Night Shift Brass Band + DJ Lumen"
    assert event.starts_at == utc(2026, 12, 5, 1, 0)
    assert event.ends_at == utc(2026, 12, 5, 4, 30)
    assert event.timezone == "America/New_York"
    assert event.description is not None
    assert event.description.startswith("Twelve-piece brass band")
    assert event.venue_name == "Brooklyn Bowl"
    assert event.address == "61 Wythe Avenue"
    assert (event.locality, event.postal_code, event.country) == ("Brooklyn", "11249", "US")
    assert (event.lat, event.lon) == (40.7219287, -73.9573932)
    assert event.category == "music"
    assert (event.price_min, event.price_max, event.currency, event.is_free) == (
        25.0,
        35.0,
        "USD",
        False,
    )
    assert event.status == "scheduled"
    assert event.url == (
        "https://www.eventbrite.com/e/night-shift-brass-band-dj-lumen-tickets-1098234561207?aff=ebapi"
    )
    assert event.image_url is not None
    assert "original.jpg" in event.image_url
    assert "rect=" not in event.image_url
    assert event.fetched_at == FETCHED_AT


def test_cancelled_comedy() -> None:
    """status canceled becomes cancelled; the Comedy subcategory makes it comedy."""
    event = SOURCE.normalise(record("1098234561311"), FETCHED_AT)
    assert event.status == "cancelled"
    assert event.category == "comedy"
    assert event.starts_at == utc(2026, 12, 12, 2, 30)


def test_free_event_with_summary_only() -> None:
    """A free event has zero prices; without a description object the summary is used."""
    rec = record("1098234561498")
    assert "description" not in rec
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.is_free, event.price_min, event.price_max, event.currency) == (
        True,
        0.0,
        0.0,
        "USD",
    )
    assert event.description == rec["summary"]
    assert event.address == "10 Grand Army Plaza, Youth Wing, 1st Floor"
    assert event.category == "family"


def test_event_after_spring_forward() -> None:
    """An event on the day clocks go forward is 19:00 EDT (UTC-4), outside the window and kept."""
    event = SOURCE.normalise(record("1098234561552"), FETCHED_AT)
    assert event.starts_at == utc(2027, 3, 14, 23, 0)
    assert event.ends_at == utc(2027, 3, 15, 2, 0)
    assert event.image_url is None
    assert event.category == "food_drink"


def test_local_time_in_event_zone_without_utc() -> None:
    """Without start.utc the instant is start.local in start.timezone, DST included."""
    rec = record("1098234561552")
    del rec["start"]["utc"], rec["end"]["utc"]
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert event.starts_at == utc(2027, 3, 14, 23, 0)
    assert event.ends_at == utc(2027, 3, 15, 2, 0)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2027-03-14T02:30:00", utc(2027, 3, 14, 7, 30)),  # in the gap: moved forward
        ("2026-11-01T01:30:00", utc(2026, 11, 1, 5, 30)),  # ambiguous: first (EDT) occurrence
        ("2026-07-04T21:00:00", utc(2026, 7, 5, 1, 0)),  # summer: EDT
        ("2026-12-31T23:59:59", utc(2027, 1, 1, 4, 59) + dt.timedelta(seconds=59)),
    ],
)
def test_local_time_edge_cases(local: str, expected: dt.datetime) -> None:
    """Local times in DST gaps and overlaps resolve to one documented instant."""
    rec = record("1098234561207")
    rec["start"] = {"timezone": "America/New_York", "local": local}
    rec["end"] = {"timezone": "America/New_York", "local": "2027-12-31T23:00:00"}
    assert SOURCE.normalise(rec, FETCHED_AT).starts_at == expected


def test_utc_is_the_instant_when_both_are_given() -> None:
    """start.utc is the true instant; start.local is only used without it."""
    rec = record("1098234561207")
    rec["start"]["local"] = "2026-12-04T08:00:00"
    assert SOURCE.normalise(rec, FETCHED_AT).starts_at == utc(2026, 12, 5, 1, 0)


def test_end_before_start_is_dropped() -> None:
    """An end before the start is unknown, not a negative duration."""
    rec = record("1098234561207")
    rec["end"] = {
        "timezone": "America/New_York",
        "local": "2026-12-04T19:00:00",
        "utc": "2026-12-05T00:00:00Z",
    }
    assert SOURCE.normalise(rec, FETCHED_AT).ends_at is None


def test_same_event_from_organizer_and_venue_is_identical() -> None:
    """The staged reading listed by its organizer and by its venue normalises to the same Event."""
    via_organizer = records("org_events_page_2.json")["1098234561780"]
    via_venue = records("venue_events.json")["1098234561780"]
    a = SOURCE.normalise(via_organizer, FETCHED_AT)
    b = SOURCE.normalise(via_venue, FETCHED_AT)
    assert a == b
    assert (a.source, a.source_id) == (b.source, b.source_id) == ("eventbrite", "1098234561780")
    assert a.category == "theater"


def test_venue_null_without_online_flag_keeps_the_event() -> None:
    """A physical event whose venue was not expanded keeps no place fields instead of failing."""
    rec = record("1098234561207")
    rec["venue"] = None
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.venue_name, event.address, event.lat, event.lon) == (None, None, None, None)


def test_coordinates_fall_back_to_the_address_and_skip_placeholders() -> None:
    """Venue coordinates come from the venue, else its address; (0, 0) means none."""
    rec = record("1098234561207")
    rec["venue"]["latitude"] = rec["venue"]["longitude"] = None
    assert SOURCE.normalise(rec, FETCHED_AT).lat == 40.7219287
    rec["venue"]["address"]["latitude"] = rec["venue"]["address"]["longitude"] = "0"
    assert SOURCE.normalise(rec, FETCHED_AT).lat is None


def test_address_falls_back_to_the_localized_display() -> None:
    """Without address_1 the localized display is the address."""
    rec = record("1098234561207")
    del rec["venue"]["address"]["address_1"]
    assert SOURCE.normalise(rec, FETCHED_AT).address == "61 Wythe Avenue, Brooklyn, NY 11249"


@pytest.mark.parametrize(
    ("category", "subcategory", "expected"),
    [
        ("103", None, "music"),
        ("104", None, "film"),
        ("104", "4004", "comedy"),
        ("105", None, "arts"),
        ("105", "5001", "theater"),
        ("105", "5006", "music"),
        ("101", None, "learning"),
        ("102", None, "learning"),
        ("107", None, "wellness"),
        ("108", None, "sports"),
        ("110", None, "food_drink"),
        ("113", None, "community"),
        ("115", None, "family"),
        ("199", None, "other"),
        ("999", None, None),
        (None, None, None),
    ],
)
def test_categories(category: str | None, subcategory: str | None, expected: str | None) -> None:
    """Top category ids map to DESIGN categories; a few subcategories refine them."""
    rec = record("1098234561207")
    rec["category_id"], rec["subcategory_id"] = category, subcategory
    assert SOURCE.normalise(rec, FETCHED_AT).category == expected


def test_prices_from_minor_units_when_major_value_is_missing() -> None:
    """Without major_value, value is read in the currency's minor units (JPY has none)."""
    rec = record("1098234561207")
    rec["ticket_availability"]["minimum_ticket_price"] = {"currency": "USD", "value": 1250}
    rec["ticket_availability"]["maximum_ticket_price"] = {"currency": "USD", "value": 990}
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.price_min, event.price_max, event.currency) == (9.9, 12.5, "USD")
    rec["ticket_availability"]["minimum_ticket_price"] = {"currency": "JPY", "value": 3000}
    rec["ticket_availability"]["maximum_ticket_price"] = None
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.price_min, event.price_max, event.currency) == (3000.0, None, "JPY")


def test_no_ticket_availability_means_unknown_prices() -> None:
    """Without the ticket_availability expansion prices are unknown; is_free still holds."""
    rec = record("1098234561207")
    del rec["ticket_availability"]
    event = SOURCE.normalise(rec, FETCHED_AT)
    assert (event.price_min, event.price_max, event.currency, event.is_free) == (
        None,
        None,
        None,
        False,
    )


def test_cropped_logo_when_no_original() -> None:
    """The cropped logo URL is used when there is no original."""
    rec = record("1098234561207")
    del rec["logo"]["original"]
    assert SOURCE.normalise(rec, FETCHED_AT).image_url == rec["logo"]["url"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("live", "scheduled"),
        ("started", "scheduled"),
        ("ended", "scheduled"),
        ("completed", "scheduled"),
        ("canceled", "cancelled"),
        ("something-new", "scheduled"),
    ],
)
def test_statuses(status: str, expected: str) -> None:
    """Eventbrite statuses map to DESIGN statuses; unknown ones are scheduled."""
    rec = record("1098234561207")
    rec["status"] = status
    assert SOURCE.normalise(rec, FETCHED_AT).status == expected


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
        "online_event",
        "bad_date",
        "draft",
        "unknown_timezone",
        "missing_start",
        "private_event",
        "missing_timezone",
    ]
