"""The Eventbrite v3 emulation over its ASGI app: auth, listings, paging, expansions, limits."""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
from starlette.applications import Starlette
from starlette.routing import Mount

from scenescout_cli.cities import city_from_slug
from scenescout_cli.sandbox import images, serve
from scenescout_cli.sandbox.data import World, build_world
from scenescout_cli.sandbox.eventbrite import (
    API_KEY,
    MAX_PAGE_SIZE,
    PREFIX,
    EventbriteApi,
    local_events,
)
from scenescout_cli.sandbox.ticketmaster import render_event

ANCHOR = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
NOW = ANCHOR + dt.timedelta(hours=15)  # some events of the first day are over or under way
BASE = "http://sandbox.test"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
NYC = city_from_slug("nyc")


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _app(api: EventbriteApi) -> Starlette:
    return Starlette(routes=[Mount(api.prefix, routes=api.routes()), *images.routes()])


def _published(world: World, **kwargs: Any) -> EventbriteApi:
    kwargs.setdefault("wall", NOW.timestamp)
    api = EventbriteApi(world, **kwargs)
    api.publish(BASE)
    return api


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(NYC, anchor=ANCHOR)


@pytest.fixture(scope="module")
def api(world: World) -> EventbriteApi:
    return _published(world, rate_limit=False)


def _client(api: EventbriteApi, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(api))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers)


@pytest.fixture
async def client(api: EventbriteApi) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(api, AUTH) as client:
        yield client


async def _walk(
    client: httpx.AsyncClient, path: str, **params: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every event of a listing, following continuation tokens: (events, paginations)."""
    params.setdefault("page_size", 20)
    events: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    while True:
        response = await client.get(PREFIX + path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["pagination"])
        events.extend(body["events"])
        if not body["pagination"]["has_more_items"]:
            return events, pages
        params["continuation"] = body["pagination"]["continuation"]


async def _organizer_listing(
    client: httpx.AsyncClient, ident: str, **params: Any
) -> tuple[str, list[dict[str, Any]]]:
    """A listed id's events through /organizations/, falling back to /organizers/ on 404."""
    for kind in ("organizations", "organizers"):
        probe = await client.get(f"{PREFIX}/{kind}/{ident}/events/", params={"page_size": 1})
        if probe.status_code == 200:
            events, _ = await _walk(client, f"/{kind}/{ident}/events/", **params)
            return kind, events
        assert probe.status_code == 404
    return "none", []


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"status_code", "error", "error_description"}
    assert body["status_code"] == response.status_code
    return response.status_code, body["error"]


async def test_auth_by_bearer_or_query_token_and_the_error_bodies(api: EventbriteApi) -> None:
    """Bearer header or ?token= pass; no token is 401 NO_AUTH, a wrong one 401 INVALID_AUTH."""
    venue = api.eventbrite_venues[0]
    path = f"{PREFIX}/venues/{venue}/events/"
    async with _client(api) as anonymous:
        assert _error(await anonymous.get(path)) == (401, "NO_AUTH")
        wrong = await anonymous.get(path, headers={"Authorization": "Bearer nope"})
        assert _error(wrong) == (401, "INVALID_AUTH")
        assert _error(await anonymous.get(path, params={"token": "nope"})) == (401, "INVALID_AUTH")
        assert (await anonymous.get(path, params={"token": API_KEY})).status_code == 200
        assert (await anonymous.get(path, headers=AUTH)).status_code == 200


async def test_listed_ids_cover_organizations_a_legacy_organizer_and_a_deleted_one(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """Most ids list via /organizations/; one only via /organizers/; one 404s on both."""
    kinds = Counter()
    for ident in (*api.eventbrite_organizers, api.deleted_organizer):
        kind, events = await _organizer_listing(client, ident)
        kinds[kind] += 1
        if kind == "none":
            for path in ("organizations", "organizers"):
                response = await client.get(f"{PREFIX}/{path}/{ident}/events/")
                assert _error(response) == (404, "NOT_FOUND")
        else:
            assert events, ident
    assert kinds["organizers"] == 1
    assert kinds["none"] == 1
    assert kinds["organizations"] >= 10


async def test_continuation_walks_every_listing_once_and_the_crawl_covers_all(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """Paging yields each event once, matches object_count, and the union is every event."""
    seen: set[str] = set()
    for ident in api.eventbrite_organizers:
        kind, events = await _organizer_listing(client, ident)
        ids = [e["id"] for e in events]
        assert len(ids) == len(set(ids))
        if kind == "organizations":
            _, pages = await _walk(client, f"/organizations/{ident}/events/", page_size=7)
            assert pages[0]["object_count"] == len(ids)
            assert pages[0]["page_count"] == -(-len(ids) // 7)
            assert [p["page_number"] for p in pages] == list(range(1, len(pages) + 1))
        seen.update(ids)
    unlisted: set[str] = set()
    for venue in api.eventbrite_venues:
        events, _ = await _walk(client, f"/venues/{venue}/events/", expand="organizer")
        seen.update(e["id"] for e in events)
        unlisted.update(
            e["organizer"]["id"]
            for e in events
            if e["organization_id"] not in api.eventbrite_organizers
            and e["organizer_id"] not in api.eventbrite_organizers
        )
    assert len(unlisted) == 1  # a promoter reachable only through the venues
    (hidden,) = unlisted
    events, _ = await _walk(client, f"/organizers/{hidden}/events/")
    seen.update(e["id"] for e in events)
    assert len(seen) == api.event_count
    assert 0.25 * len(api.world.events) < api.event_count < 0.4 * len(api.world.events)


async def test_venue_listings_overlap_organizers_and_omit_counts(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """Venue pages carry no object_count/page_count; their events also appear under organizers."""
    by_organizers: set[str] = set()
    for ident in api.eventbrite_organizers:
        _, events = await _organizer_listing(client, ident)
        by_organizers.update(e["id"] for e in events)
    overlap = only_venue = 0
    for venue in api.eventbrite_venues:
        events, pages = await _walk(client, f"/venues/{venue}/events/", page_size=10)
        assert all("object_count" not in p and "page_count" not in p for p in pages)
        assert all(e["venue_id"] == venue and not e["online_event"] for e in events)
        overlap += sum(e["id"] in by_organizers for e in events)
        only_venue += sum(e["id"] not in by_organizers for e in events)
    assert overlap > 50
    assert only_venue > 0


async def test_online_events_are_listed_without_a_venue(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """Online events: online_event true, venue_id null, venue null when expanded."""
    online = []
    for ident in api.eventbrite_organizers:
        _, events = await _organizer_listing(client, ident, expand="venue")
        online.extend(e for e in events if e["online_event"])
    assert len(online) >= 5
    for event in online:
        assert event["venue_id"] is None
        assert event["venue"] is None


async def test_expansions_add_venue_ticket_availability_and_organizer(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """Unexpanded events carry ids only; expanded ones the documented objects and types."""
    venue = api.eventbrite_venues[0]
    plain = (await client.get(f"{PREFIX}/venues/{venue}/events/")).json()["events"][0]
    assert plain["venue_id"] == venue
    assert "venue" not in plain
    assert "ticket_availability" not in plain
    assert "organizer" not in plain
    assert plain["id"].isdigit()
    assert len(plain["id"]) in (12, 13)
    assert plain["start"]["utc"].endswith("Z")
    assert len(plain["start"]["local"]) == 19
    assert plain["url"].endswith(f"-tickets-{plain['id']}?aff=ebapi")

    expanded = await client.get(
        f"{PREFIX}/venues/{venue}/events/",
        params={"expand": "venue,ticket_availability,logo,organizer", "page_size": 200},
    )
    events = expanded.json()["events"]
    first = events[0]
    assert first["venue"]["id"] == venue
    address = first["venue"]["address"]
    assert isinstance(first["venue"]["latitude"], str)
    assert isinstance(address["latitude"], str)
    assert isinstance(address["longitude"], str)
    assert address["country"] == "US"
    assert address["localized_address_display"]
    assert first["organizer"]["id"] == first["organizer_id"]
    for event in events:
        tickets = event["ticket_availability"]
        low = tickets["minimum_ticket_price"]
        assert isinstance(low["value"], int)
        assert low["major_value"] == f"{low['value'] // 100}.{low['value'] % 100:02d}"
        assert event["is_free"] == (tickets["maximum_ticket_price"]["value"] == 0)
    assert any(e["logo"] is None for e in events) or all(e["logo_id"] for e in events)


async def test_logo_urls_point_at_the_image_route(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """Logo and original URLs are the sandbox's /img/eb/ route and serve JPEGs of that size."""
    venue = api.eventbrite_venues[0]
    events = (await client.get(f"{PREFIX}/venues/{venue}/events/")).json()["events"]
    logo = next(e["logo"] for e in events if e["logo"])
    assert logo["url"].startswith(f"{BASE}/img/eb/{logo['id']}_450x225.jpg?")
    original = logo["original"]
    response = await client.get(original["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert original["url"].endswith(f"_{original['width']}x{original['height']}.jpg")


async def test_bad_tokens_pages_and_arguments_get_eventbrite_errors(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """Foreign or forged tokens, pages past the end and bad filters get their error codes."""
    org = api.eventbrite_organizers[0]
    path = f"{PREFIX}/organizations/{org}/events/"
    first = (await client.get(path, params={"page_size": 5})).json()["pagination"]
    token = first["continuation"]
    assert first["has_more_items"]
    assert (await client.get(path, params={"continuation": token})).status_code == 200
    forged = base64.urlsafe_b64encode(b"\x01\x00\x00\x00\x05" + b"\x00" * 20).decode()
    other = f"{PREFIX}/organizations/{api.eventbrite_organizers[1]}/events/"
    cases = [
        (path, {"continuation": "garbage"}, (400, "BAD_CONTINUATION_TOKEN")),
        (path, {"continuation": forged}, (400, "BAD_CONTINUATION_TOKEN")),
        (other, {"continuation": token}, (400, "BAD_CONTINUATION_TOKEN")),
        (path, {"continuation": token, "status": "canceled"}, (400, "BAD_CONTINUATION_TOKEN")),
        (path, {"page": 999}, (400, "BAD_PAGE")),
        (path, {"status": "draft"}, (403, "NOT_AUTHORIZED")),
        (path, {"status": "sold"}, (400, "ARGUMENTS_ERROR")),
        (path, {"order_by": "popularity"}, (400, "ARGUMENTS_ERROR")),
        (path, {"time_filter": "tomorrow"}, (400, "ARGUMENTS_ERROR")),
        (path, {"page_size": "0"}, (400, "ARGUMENTS_ERROR")),
        (
            f"{PREFIX}/venues/{api.eventbrite_venues[0]}/events/",
            {"start_date.range_start": "2026-12-01"},
            (400, "ARGUMENTS_ERROR"),
        ),
        (f"{PREFIX}/events/1/", {}, (404, "NOT_FOUND")),
        (f"{PREFIX}/venues/1/events/", {}, (404, "NOT_FOUND")),
    ]
    for url, params, expected in cases:
        assert _error(await client.get(url, params=params)) == expected, params


async def test_the_last_pages_token_gives_an_empty_page_and_sizes_are_capped(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """The final page still carries a token, which yields nothing; page_size caps at 200."""
    org = api.eventbrite_organizers[0]
    path = f"{PREFIX}/organizations/{org}/events/"
    body = (await client.get(path, params={"page_size": 1000})).json()
    pagination = body["pagination"]
    assert pagination["page_size"] == MAX_PAGE_SIZE
    assert not pagination["has_more_items"]
    after = (await client.get(path, params={"continuation": pagination["continuation"]})).json()
    assert after["events"] == []
    assert not after["pagination"]["has_more_items"]
    assert "continuation" not in after["pagination"]
    paged = (await client.get(path, params={"page": 1, "page_size": 3})).json()
    assert [e["id"] for e in paged["events"]] == [e["id"] for e in body["events"][:3]]


async def test_status_order_time_and_date_filters(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """status, order_by and time_filter narrow and order organizer lists; dates bound venues."""
    everything: list[dict[str, Any]] = []
    for ident in api.eventbrite_organizers[:-1]:
        _, events = await _organizer_listing(client, ident, page_size=200)
        everything.extend(events)
    statuses = Counter(e["status"] for e in everything)
    assert statuses["live"] > 500
    assert statuses["canceled"] > 0
    assert statuses["ended"] > 0

    org = api.eventbrite_organizers[0]
    path = f"/organizations/{org}/events/"
    starts = [e["start"]["utc"] for e in (await _walk(client, path))[0]]
    assert starts == sorted(starts)
    names = [e["name"]["text"].lower() for e in (await _walk(client, path, order_by="name_asc"))[0]]
    assert names == sorted(names)
    for ident in api.eventbrite_organizers[:-1]:
        kind, _ = await _organizer_listing(client, ident)
        past, _ = await _walk(client, f"/{kind}/{ident}/events/", time_filter="past")
        future, _ = await _walk(client, f"/{kind}/{ident}/events/", time_filter="current_future")
        assert all(e["end"]["utc"] <= NOW.strftime("%Y-%m-%dT%H:%M:%SZ") for e in past)
        assert all(e["status"] != "ended" for e in future)
        canceled, _ = await _walk(client, f"/{kind}/{ident}/events/", status="canceled")
        assert all(e["status"] == "canceled" for e in canceled)

    venue = api.eventbrite_venues[0]
    all_at_venue, _ = await _walk(client, f"/venues/{venue}/events/")
    middle = all_at_venue[len(all_at_venue) // 2]["start"]
    later, _ = await _walk(
        client, f"/venues/{venue}/events/", **{"start_date.range_start": middle["utc"]}
    )
    assert later
    assert all(e["start"]["utc"] >= middle["utc"] for e in later)
    local, _ = await _walk(
        client,
        f"/venues/{venue}/events/",
        **{"start_date.range_start": middle["local"], "start_date.range_end": middle["local"]},
    )
    assert {e["start"]["utc"] for e in local} == {middle["utc"]}


async def test_event_detail_matches_the_listing(
    api: EventbriteApi, client: httpx.AsyncClient
) -> None:
    """GET /events/{id}/ returns the listed object, expansions included."""
    venue = api.eventbrite_venues[0]
    params = {"expand": "venue,ticket_availability"}
    listed = (await client.get(f"{PREFIX}/venues/{venue}/events/", params=params)).json()
    event = listed["events"][0]
    detail = await client.get(f"{PREFIX}/events/{event['id']}/", params=params)
    assert detail.json() == event
    venue_body = (await client.get(f"{PREFIX}/venues/{venue}/")).json()
    assert venue_body == event["venue"]


async def test_many_events_are_ticketmasters_too_with_reworded_titles(
    api: EventbriteApi, client: httpx.AsyncClient, world: World
) -> None:
    """Same venue and start as a Ticketmaster event, titles often varied; local ones unique."""
    tm: dict[tuple[str, str], str] = {}
    for event in world.events:
        payload = render_event(event, base_url=BASE, anchor=world.anchor)
        when = payload["dates"]["start"].get("dateTime")
        if when:
            tm[(payload["_embedded"]["venues"][0]["name"], when)] = payload["name"]
    eb: dict[tuple[str, str], str] = {}
    for ident in api.eventbrite_organizers:
        _, events = await _organizer_listing(client, ident, expand="venue", page_size=200)
        for e in events:
            if e["venue"] is not None:
                eb[(e["venue"]["name"], e["start"]["utc"])] = e["name"]["text"]
    shared = eb.keys() & tm.keys()
    assert len(shared) > 300
    reworded = [(tm[k], eb[k]) for k in shared if tm[k] != eb[k]]
    assert len(reworded) > 50
    assert any(b.startswith("Late Show at ") for _, b in reworded)
    assert any(b.endswith(" \u2013 Live") for _, b in reworded)
    assert len(eb.keys() - tm.keys()) > 20  # local food, community and class events
    assert local_events(world)


async def test_two_sandboxes_from_the_same_world_answer_identically(world: World) -> None:
    """Ids, listed organizers and venues, and page bytes are deterministic."""
    again = build_world(NYC, anchor=ANCHOR)
    first, second = _published(world, rate_limit=False), _published(again, rate_limit=False)
    assert first.eventbrite_organizers == second.eventbrite_organizers
    assert first.eventbrite_venues == second.eventbrite_venues
    path = f"{PREFIX}/organizations/{first.eventbrite_organizers[0]}/events/"
    params = {"expand": "venue,ticket_availability", "page_size": 200}
    async with _client(first, AUTH) as a, _client(second, AUTH) as b:
        assert (await a.get(path, params=params)).content == (
            await b.get(path, params=params)
        ).content


async def test_over_the_hourly_limit_answers_hit_rate_limit(world: World) -> None:
    """Past the rolling hour's allowance: 429 HIT_RATE_LIMIT, until the hour rolls on."""
    clock = FakeClock()
    limited = _published(world, hourly_limit=3, monotonic=clock)
    path = f"{PREFIX}/venues/{limited.eventbrite_venues[0]}/events/"
    async with _client(limited, AUTH) as client:
        for _ in range(3):
            assert (await client.get(path)).status_code == 200
        refused = await client.get(path)
        assert _error(refused) == (429, "HIT_RATE_LIMIT")
        assert "2,000 calls per hour" in refused.json()["error_description"]
        clock.now += 3600
        assert (await client.get(path)).status_code == 200


async def test_unpublished_api_answers_503(world: World) -> None:
    """Until publish() the emulator answers 503 rather than half-built data."""
    fresh = EventbriteApi(world)
    async with _client(fresh, AUTH) as client:
        assert (await client.get(f"{PREFIX}/events/1/")).status_code == 503


@pytest.mark.integration
async def test_serve_registers_eventbrite_with_its_listed_ids() -> None:
    """A real sandbox reports Eventbrite's URL, key and ids, and answers over loopback."""
    async with trio.open_nursery() as nursery:
        info = await nursery.start(functools.partial(serve, NYC, rate_limit=False))
        assert info.urls["eventbrite"] == info.base_url + PREFIX
        assert info.keys["eventbrite"] == API_KEY
        assert len(info.eventbrite_organizers) >= 10
        assert info.eventbrite_venues
        async with httpx.AsyncClient(timeout=10, headers=AUTH) as client:
            response = await client.get(
                f"{info.urls['eventbrite']}/organizations/{info.eventbrite_organizers[0]}/events/"
            )
        assert response.status_code == 200
        assert response.json()["events"]
        nursery.cancel_scope.cancel()
