"""The Meetup gql-ext emulation: auth, GraphQL validation, relay paging, data quirks."""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from scenescout_cli.cities import city_from_slug
from scenescout_cli.sandbox.data import World, build_world
from scenescout_cli.sandbox.meetup import (
    ONLINE_LAT,
    ONLINE_LON,
    POINTS_PER_MINUTE,
    TOKEN,
    MeetupApi,
    build_events,
)
from scenescout_cli.sandbox.ticketmaster import event_id

ANCHOR = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
BASE = "http://sandbox.test"
NYC = (40.7128, -74.006)
AUTH = {"Authorization": f"Bearer {TOKEN}"}

EXAMPLE = """
query Near($filter: EventSearchFilter!, $first: Int, $after: String) {
  eventSearch(filter: $filter, first: $first, after: $after, sort: {sortField: DATETIME}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id token title description dateTime endTime duration status eventType eventUrl
      venues { name address city state postalCode country lat lon venueType }
      featuredEventPhoto { id highResUrl }
      feeSettings { amount currency required }
      rsvps { yesCount totalCount }
      group { name urlname timezone }
    } }
  }
}
"""
RECOMMENDED = """
query All($filter: RecommendedEventsFilter!, $first: Int, $after: String) {
  recommendedEvents(filter: $filter, first: $first, after: $after,
                    sort: {sortField: DATETIME}) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id token dateTime eventType venues { lat lon venueType } } }
  }
}
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(city_from_slug("nyc"), anchor=ANCHOR)


def _app(api: MeetupApi) -> Starlette:
    api.publish(BASE)
    return Starlette(routes=[Mount(p, routes=api.routes()) for p in (api.prefix, *api.aliases)])


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(MeetupApi(world, rate_limit=False)))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def _gql(
    client: httpx.AsyncClient, query: str, variables: Any = None, **kwargs: Any
) -> httpx.Response:
    headers = kwargs.pop("headers", AUTH)
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return await client.post("/meetup/gql-ext", json=body, headers=headers, **kwargs)


def _search_vars(**filter_: Any) -> dict[str, Any]:
    flt = {"query": "python", "lat": NYC[0], "lon": NYC[1], "radius": 30}
    flt.update(filter_)
    return {"filter": flt, "first": 100}


async def test_a_missing_or_wrong_token_gets_401(client: httpx.AsyncClient) -> None:
    """No token, a wrong one or another scheme: 401, a GraphQL-shaped body, WWW-Authenticate."""
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Token {TOKEN}"}):
        response = await _gql(client, "{ __typename }", headers=headers)
        assert response.status_code == 401
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_the_endpoint_is_the_base_url_with_or_without_a_slash(
    client: httpx.AsyncClient,
) -> None:
    """POST {base} and {base}/ both answer, without a redirect; GET is not allowed."""
    for path in ("/meetup/gql-ext", "/meetup/gql-ext/"):
        response = await client.post(path, json={"query": "{ __typename }"}, headers=AUTH)
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}}
    assert (await client.get("/meetup/gql-ext/", headers=AUTH)).status_code == 405


async def test_the_documented_example_query_returns_the_documented_shapes(
    client: httpx.AsyncClient,
) -> None:
    """The reference's query works as written; nodes carry the gql-ext fields and formats."""
    response = await _gql(client, EXAMPLE, _search_vars())
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    search = body["data"]["eventSearch"]
    assert search["totalCount"] == len(search["edges"]) > 3
    assert search["pageInfo"] == {"hasNextPage": False, "endCursor": search["edges"][-1]["cursor"]}
    for edge in search["edges"]:
        node = edge["node"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", node["dateTime"])
        assert node["endTime"] is None or node["endTime"] > node["dateTime"][:10]
        assert re.fullmatch(r"PT(\d+H)?(\d+M)?", node["duration"])
        assert node["eventUrl"] == (
            f"https://www.meetup.com/{node['group']['urlname']}/events/{node['token']}/"
        )
        assert node["status"] in ("ACTIVE", "CANCELLED", "CANCELLED_PERM")
        assert node["eventType"] in ("PHYSICAL", "ONLINE", "HYBRID")
        assert node["venues"]
        for venue in node["venues"]:
            assert isinstance(venue["lat"], float)
            assert venue["country"] == venue["country"].lower()
        assert node["group"]["timezone"] in ("America/New_York", "US/Eastern")
        photo = node["featuredEventPhoto"]
        if photo is not None:
            assert photo["highResUrl"].startswith(f"{BASE}/img/meetup/")
        fee = node["feeSettings"]
        assert fee is None or (fee["required"] and fee["currency"] == "USD")
        assert node["rsvps"]["yesCount"] <= node["rsvps"]["totalCount"]
    dates = [e["node"]["dateTime"] for e in search["edges"]]
    instants = [dt.datetime.fromisoformat(d) for d in dates]
    assert instants == sorted(instants)


async def test_only_the_selected_fields_come_back_under_their_aliases(
    client: httpx.AsyncClient,
) -> None:
    """Selections shape the answer: aliases, fragments, @include, nothing unasked."""
    query = """
    query ($filter: EventSearchFilter!, $withGroup: Boolean!) {
      found: eventSearch(filter: $filter, first: 1) {
        edges { node { ...Bits  when: dateTime  group @include(if: $withGroup) { name } } }
      }
    }
    fragment Bits on Event { token title }
    """
    variables = {"filter": _search_vars()["filter"], "withGroup": False}
    response = await _gql(client, query, json.dumps(variables))  # variables as a JSON string
    (edge,) = response.json()["data"]["found"]["edges"]
    assert set(edge) == {"node"}
    assert set(edge["node"]) == {"token", "title", "when"}


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            '{ eventSearch(filter: {query: "x", lat: 1, lon: 2}) '
            "{ edges { node { venue { name } } } } }",
            None,
            'Cannot query field "venue" on type "Event".',
        ),
        (
            "{ keywordSearch { count } }",
            None,
            'Cannot query field "keywordSearch" on type "Query".',
        ),
        (EXAMPLE, _search_vars(lat="40.7"), "Float cannot represent non numeric value"),
        (EXAMPLE, {"filter": {"lat": 40.7, "lon": -74.0}}, 'Field "query" of required type'),
        (EXAMPLE, _search_vars(location="nyc"), 'Field "location" is not defined'),
        (EXAMPLE, {}, 'Variable "$filter" of required type "EventSearchFilter!" was not provided'),
        (
            "query ($f: SearchConnectionFilter!) { eventSearch(filter: $f) { totalCount } }",
            {"f": {}},
            'Unknown type "SearchConnectionFilter".',
        ),
        (
            '{ eventSearch(filter: {query: "x", lat: 1, lon: 2}) { edges } }',
            None,
            'Field "edges" of type "[EventSearchEdge!]!" must have a selection of subfields',
        ),
        (
            '{ eventSearch(filter: {query: "x", lat: 1, lon: 2}) { totalCount { n } } }',
            None,
            'Field "totalCount" must not have a selection',
        ),
        ("{ eventSearch { totalCount } }", None, 'argument "filter" of type "EventSearchFilter!"'),
        ("{ eventSearch(", None, "Syntax Error"),
        ("mutation { rsvp { id } }", None, "Schema is not configured to execute mutation"),
        (EXAMPLE, _search_vars(query="  "), "must not be empty"),
    ],
)
async def test_bad_queries_get_graphql_errors_with_http_200(
    client: httpx.AsyncClient, query: str, variables: Any, message: str
) -> None:
    """Validation, variable and syntax errors: HTTP 200, ``errors``, ``data: null``."""
    response = await _gql(client, query, variables)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert message in body["errors"][0]["message"]


async def test_not_emulated_root_fields_answer_null_with_an_error(
    client: httpx.AsyncClient,
) -> None:
    """Documented roots the sandbox lacks answer null next to the ones it serves."""
    response = await _gql(client, '{ groupByUrlname(urlname: "x") { id } __typename }')
    body = response.json()
    assert body["data"] == {"groupByUrlname": None, "__typename": "Query"}
    assert body["errors"][0]["extensions"]["code"] == "NOT_EMULATED"


async def test_relay_cursors_walk_every_event_exactly_once(
    client: httpx.AsyncClient, world: World
) -> None:
    """Following endCursor while hasNextPage yields each Meetup event once, in time order."""
    expected = {e.token for e in build_events(world)}
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        variables: dict[str, Any] = {"filter": {}, "first": 37, "after": after}
        response = await _gql(client, RECOMMENDED, variables)
        connection = response.json()["data"]["recommendedEvents"]
        assert connection["totalCount"] == len(expected)
        assert connection["pageInfo"]["hasPreviousPage"] == (after is not None)
        seen.extend(edge["node"]["token"] for edge in connection["edges"])
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert pages == -(-len(expected) // 37)
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


async def test_a_foreign_cursor_is_an_error(client: httpx.AsyncClient) -> None:
    """An ``after`` the server never issued is refused."""
    response = await _gql(client, RECOMMENDED, {"filter": {}, "after": "bm9wZTox"})
    assert "Invalid cursor" in response.json()["errors"][0]["message"]


async def test_search_filters_narrow_the_results(client: httpx.AsyncClient) -> None:
    """Query words, the date window, eventType and the radius (miles) all filter."""

    async def tokens(query: str, **filter_: Any) -> list[dict[str, Any]]:
        flt: dict[str, Any] = {"query": query, "lat": NYC[0], "lon": NYC[1], **filter_}
        variables = {"filter": flt, "first": 1000}
        response = await _gql(client, EXAMPLE, variables)
        return [e["node"] for e in response.json()["data"]["eventSearch"]["edges"]]

    python = await tokens("python")
    groups = {n["group"]["name"] for n in python}
    assert groups == {"New York City Python Meetup", "Data Science New York City"}
    start, end = "2026-12-05T00:00:00-05:00", "2026-12-06T23:59:59-05:00"
    windowed = await tokens("tech", startDateRange=start, endDateRange=end)
    assert windowed
    assert all(start <= n["dateTime"] <= end for n in windowed)
    online = await tokens("tech", eventType="ONLINE")
    assert online
    assert all(n["eventType"] == "ONLINE" for n in online)
    assert await tokens("tech", lat=51.5, lon=-0.12, radius=10) == []
    assert len(await tokens("tech", radius=0.5)) < len(await tokens("tech", radius=30))


async def test_online_events_carry_the_junk_coordinates(client: httpx.AsyncClient) -> None:
    """Online venues sit at Meetup's junk point yet are found near the group's city."""
    response = await _gql(
        client, RECOMMENDED, {"filter": {"lat": NYC[0], "lon": NYC[1], "radius": 20}, "first": 999}
    )
    nodes = [e["node"] for e in response.json()["data"]["recommendedEvents"]["edges"]]
    online = [n for n in nodes if n["eventType"] == "ONLINE"]
    assert online
    for node in online:
        assert node["venues"] == [{"lat": ONLINE_LAT, "lon": ONLINE_LON, "venueType": "online"}]
    hybrid = [n for n in nodes if n["eventType"] == "HYBRID"]
    assert all(len(n["venues"]) == 2 for n in hybrid)


async def test_ids_are_unstable_and_tokens_stable(client: httpx.AsyncClient) -> None:
    """Two identical calls: same tokens in the same order; recurring events change ids."""
    first = await _gql(client, RECOMMENDED, {"filter": {}, "first": 200})
    second = await _gql(client, RECOMMENDED, {"filter": {}, "first": 200})
    a = [e["node"] for e in first.json()["data"]["recommendedEvents"]["edges"]]
    b = [e["node"] for e in second.json()["data"]["recommendedEvents"]["edges"]]
    assert [n["token"] for n in a] == [n["token"] for n in b]
    changed = [x for x, y in zip(a, b, strict=True) if x["id"] != y["id"]]
    assert changed
    assert all(re.fullmatch(r"[a-z]{13}", n["id"]) for n in changed)
    assert any(x["id"] == x["token"] == y["id"] for x, y in zip(a, b, strict=True))


async def test_event_is_found_by_its_token(client: httpx.AsyncClient, world: World) -> None:
    """``event(id:)`` takes the stable token; an unknown id answers null."""
    token = build_events(world)[0].token
    query = "query ($id: ID!) { event(id: $id) { token title } }"
    found = (await _gql(client, query, {"id": token})).json()["data"]["event"]
    assert found["token"] == token
    assert (await _gql(client, query, {"id": "1"})).json() == {"data": {"event": None}}


def test_events_are_deterministic_and_about_a_fifth_of_the_world(world: World) -> None:
    """Same world, same events; about 20% of the world's count, mostly community groups."""
    events = build_events(world)
    again = build_events(build_world(city_from_slug("nyc"), anchor=ANCHOR))
    assert [e.token for e in events] == [e.token for e in again]
    assert [e.title for e in events] == [e.title for e in again]
    dated = sum(1 for e in world.events if e.start is not None)
    assert 0.17 * dated <= len(events) <= 0.21 * dated
    assert len({e.token for e in events}) == len(events)
    types = collections.Counter(e.event_type for e in events)
    assert types["ONLINE"] >= 0.05 * len(events)
    assert types["PHYSICAL"] >= 0.7 * len(events)
    assert all(world.anchor <= e.instant < world.end for e in events)
    later = build_events(build_world(city_from_slug("nyc"), anchor=ANCHOR + dt.timedelta(days=1)))
    shared = {e.token for e in events} & {e.token for e in later}
    assert len(shared) >= 0.8 * len(events)


def test_outings_overlap_ticketmaster_events_with_variations(world: World) -> None:
    """A few group outings go to world (Ticketmaster) events: same venue, same or earlier start."""
    by_key = {e.key: e for e in world.events}
    outings = [e for e in build_events(world) if e.outing_of is not None]
    assert 5 <= len(outings) <= 0.1 * len(build_events(world))
    variants = 0
    for outing in outings:
        assert outing.outing_of is not None
        original = by_key[outing.outing_of]
        assert event_id(original)  # listed by the Ticketmaster emulation
        assert original.venue == outing.venue
        assert original.instant is not None
        assert outing.instant - original.instant in (dt.timedelta(0), dt.timedelta(minutes=-30))
        assert original.title in outing.title
        variants += outing.title != original.title
    assert 0 < variants < len(outings)


async def test_the_points_budget_answers_rate_limited(world: World) -> None:
    """500 points a minute per token: then errors with RATE_LIMITED and resetAt."""
    clock = FakeClock()
    api = MeetupApi(world, monotonic=clock, wall=lambda: 1_800_000_000.0)
    transport = httpx.ASGITransport(app=_app(api))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        query = "{ a: __typename b: recommendedEvents(filter: {}) { totalCount } }"
        for _ in range(POINTS_PER_MINUTE):  # one root field that costs: one point each
            assert "errors" not in (await _gql(client, query)).json()
        response = await _gql(client, query)
        assert response.status_code == 200
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["resetAt"].endswith("Z")
        clock.now += 60.0
        assert "errors" not in (await _gql(client, query)).json()
