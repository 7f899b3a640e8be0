"""The Yelp events emulation over its ASGI app: auth, offset paging, caps, headers, limits."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import trio
from starlette.applications import Starlette
from starlette.routing import Mount

from scenescout_cli.cities import city_from_slug
from scenescout_cli.sandbox import images, serve
from scenescout_cli.sandbox.data import World, build_world
from scenescout_cli.sandbox.eventbrite import PREFIX as EB_PREFIX
from scenescout_cli.sandbox.eventbrite import EventbriteApi
from scenescout_cli.sandbox.ticketmaster import render_event
from scenescout_cli.sandbox.yelp import API_KEY, PREFIX, YelpApi

ANCHOR = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
BASE = "http://sandbox.test"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
NYC = city_from_slug("nyc")
ZONE = ZoneInfo(NYC.timezone)
CENTRE = {"latitude": NYC.area.lat, "longitude": NYC.area.lon}


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _app(*apis: Any) -> Starlette:
    mounts = [Mount(api.prefix, routes=api.routes()) for api in apis]
    return Starlette(routes=[*mounts, *images.routes()])


def _published(world: World, **kwargs: Any) -> YelpApi:
    api = YelpApi(world, **kwargs)
    api.publish(BASE)
    return api


def _client(*apis: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(*apis))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(NYC, anchor=ANCHOR)


@pytest.fixture(scope="module")
def api(world: World) -> YelpApi:
    return _published(world, rate_limit=False)


@pytest.fixture
async def client(api: YelpApi) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(api, headers=AUTH) as client:
        yield client


async def _search(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    for name, value in CENTRE.items():
        params.setdefault(name, value)
    return await client.get(f"{PREFIX}/events", params=params)


async def _all(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every event of a search, walking offsets 50 at a time."""
    events: list[dict[str, Any]] = []
    while True:
        body = (await _search(client, limit=50, offset=len(events), **params)).json()
        events.extend(body["events"])
        if len(events) >= body["total"] or not body["events"]:
            return events


def _start(event: dict[str, Any]) -> dt.datetime:
    """``time_start`` in either documented form (the short one is local time)."""
    text = event["time_start"]
    if "T" in text:
        return dt.datetime.fromisoformat(text)
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE)


def _error(response: httpx.Response) -> tuple[int, str]:
    error = response.json()["error"]
    assert error["description"]
    return response.status_code, error["code"]


async def test_missing_or_wrong_bearer_gets_the_token_errors(api: YelpApi) -> None:
    """No Authorization is 401 TOKEN_MISSING; a wrong key or scheme is 401 TOKEN_INVALID."""
    async with _client(api) as anonymous:
        url = f"{PREFIX}/events"
        assert _error(await anonymous.get(url, params=CENTRE)) == (401, "TOKEN_MISSING")
        query_key = await anonymous.get(url, params={**CENTRE, "token": API_KEY})
        assert _error(query_key) == (401, "TOKEN_MISSING")
        for header in ("Bearer wrong", f"Basic {API_KEY}"):
            response = await anonymous.get(url, params=CENTRE, headers={"Authorization": header})
            assert _error(response) == (401, "TOKEN_INVALID")
            assert "ratelimit-remaining" not in response.headers
        assert (await anonymous.get(url, params=CENTRE, headers=AUTH)).status_code == 200


async def test_offset_paging_walks_every_event_exactly_once(
    api: YelpApi, client: httpx.AsyncClient, world: World
) -> None:
    """Offsets over a time-sorted search yield each event once and ``total`` of them."""
    body = (await _search(client)).json()
    assert len(body["events"]) == 3  # the documented default limit
    total = body["total"]
    assert 0.18 * len(world.events) < total < 0.3 * len(world.events)
    assert total < 1000
    events = await _all(client, sort_on="time_start", sort_by="asc")
    ids = [e["id"] for e in events]
    assert len(ids) == total == len(set(ids))
    starts = [_start(e) for e in events]
    assert starts == sorted(starts)
    by_popularity = await _all(client)
    assert {e["id"] for e in by_popularity} == set(ids)
    assert api.event_count == total


async def test_caps_and_bad_parameters_are_validation_errors(client: httpx.AsyncClient) -> None:
    """Radius over 40 km, limit over 50, offset+limit over 1,000 and junk get 400s."""
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"radius": 40_001}, "radius"),
        ({"radius": 2500.5}, "radius"),
        ({"limit": 51}, "limit"),
        ({"limit": -1}, "limit"),
        ({"offset": 951, "limit": 50}, None),
        ({"offset": 1000, "limit": 1}, None),
        ({"start_date": "2026-12-01"}, "start_date"),
        ({"categories": "music,poetry"}, "categories"),
        ({"sort_on": "distance"}, "sort_on"),
        ({"sort_by": "random"}, "sort_by"),
        ({"is_free": "maybe"}, "is_free"),
        ({"latitude": 95}, "latitude"),
    ]
    for params, field in cases:
        response = await _search(client, **params)
        assert _error(response) == (400, "VALIDATION_ERROR"), params
        assert response.json()["error"].get("field") == field
    assert (await _search(client, offset=950, limit=50)).status_code == 200
    assert (await _search(client, radius=40_000)).status_code == 200
    for params in ({"latitude": None, "longitude": None}, {"longitude": None}):
        response = await client.get(
            f"{PREFIX}/events", params={k: v for k, v in CENTRE.items() if k not in params}
        )
        assert _error(response) == (400, "VALIDATION_ERROR")
    located = await client.get(f"{PREFIX}/events", params={"location": "New York, NY"})
    assert located.json()["total"] == (await _search(client)).json()["total"]


async def test_filters_narrow_by_time_price_category_and_radius(client: httpx.AsyncClient) -> None:
    """start_date/end_date bound the start; is_free, categories and radius filter."""
    everything = await _all(client, sort_on="time_start", sort_by="asc")
    middle = _start(everything[len(everything) // 2])
    lo, hi = int(middle.timestamp()), int(middle.timestamp()) + 86_400
    window = await _all(client, start_date=lo, end_date=hi)
    assert window
    assert all(lo <= _start(e).timestamp() <= hi for e in window)
    free = await _all(client, is_free="true")
    assert free
    assert all(e["is_free"] and e["cost"] is None for e in free)
    paid = await _all(client, is_free="false")
    assert len(free) + len(paid) == len(everything)
    music = await _all(client, categories="music,nightlife")
    assert {e["category"] for e in music} == {"music", "nightlife"}
    near = await _all(client, radius=2000)
    assert 0 < len(near) < len(everything)


async def test_payload_fields_and_their_two_time_formats(client: httpx.AsyncClient) -> None:
    """Both time_start forms occur; numbers, nulls, slugs and image URLs look like Yelp's."""
    events = await _all(client)
    iso = [e for e in events if "T" in e["time_start"]]
    short = [e for e in events if "T" not in e["time_start"]]
    assert 0.6 < len(iso) / len(events) < 0.9
    assert short
    assert all(len(e["time_start"]) == 16 for e in short)  # "2026-12-01 20:00"
    assert any(e["time_end"] is None for e in events)
    assert any(e["cost"] is not None and e["cost_max"] is None for e in events)
    assert any(e["cost"] is None and not e["is_free"] for e in events)
    assert any("business_id" not in e for e in events)
    for event in events:
        assert isinstance(event["latitude"], float)
        assert event["id"] == event["id"].lower()
        assert " " not in event["id"]
        assert event["image_url"].startswith(f"{BASE}/img/yelp/")
        assert event["event_site_url"].startswith(f"https://www.yelp.com/events/{event['id']}?")
        assert event["location"]["display_address"][0] == event["location"]["address1"]
        assert event["interested_count"] >= event["attending_count"]
        if event["is_free"]:
            assert event["tickets_url"] == ""
    image = await client.get(events[0]["image_url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"


async def test_lookup_returns_the_bare_event_or_404(client: httpx.AsyncClient) -> None:
    """GET /events/{id} returns the search's object; an unknown id gets 404."""
    event = (await _search(client, limit=1)).json()["events"][0]
    assert (await client.get(f"{PREFIX}/events/{event['id']}")).json() == event
    missing = await client.get(f"{PREFIX}/events/no-such-event")
    assert _error(missing) == (404, "NOT_FOUND")


async def test_rate_limit_headers_on_every_answer_to_a_valid_key(world: World) -> None:
    """DailyLimit, Remaining (counting 200s and 400s) and ResetTime (next midnight UTC)."""
    wall = FakeClock(ANCHOR.timestamp() + 3600)
    api = _published(world, rate_limit=False, wall=wall)
    async with _client(api, headers=AUTH) as client:
        first = await _search(client)
        bad = await _search(client, limit=99)
        assert bad.status_code == 400
        for response, remaining in ((first, 4999), (bad, 4998)):
            assert response.headers["ratelimit-dailylimit"] == "5000"
            assert response.headers["ratelimit-remaining"] == str(remaining)
            assert response.headers["ratelimit-resettime"] == "2026-11-29T00:00:00+00:00"


async def test_more_than_five_a_second_is_too_many_requests_per_second(world: World) -> None:
    """The sixth request inside a second gets 429 TOO_MANY_REQUESTS_PER_SECOND, uncounted."""
    clock = FakeClock(100.0)
    api = _published(world, monotonic=clock)
    async with _client(api, headers=AUTH) as client:
        for _ in range(5):
            assert (await _search(client)).status_code == 200
        refused = await _search(client)
        assert _error(refused) == (429, "TOO_MANY_REQUESTS_PER_SECOND")
        assert refused.headers["ratelimit-remaining"] == "4995"
        clock.now += 1.0
        assert (await _search(client)).status_code == 200


async def test_the_daily_limit_answers_access_limit_reached_until_midnight(world: World) -> None:
    """Once the day's calls are used: 429 ACCESS_LIMIT_REACHED, Remaining 0; served again
    after midnight UTC."""
    wall = FakeClock(ANCHOR.timestamp() + 23 * 3600)
    api = _published(world, rate_limit=False, daily_limit=2, wall=wall)
    async with _client(api, headers=AUTH) as client:
        assert (await _search(client)).status_code == 200
        assert (await _search(client)).status_code == 200
        refused = await _search(client)
        assert _error(refused) == (429, "ACCESS_LIMIT_REACHED")
        assert refused.headers["ratelimit-remaining"] == "0"
        wall.now += 3600
        served = await _search(client)
        assert served.status_code == 200
        assert served.headers["ratelimit-remaining"] == "1"


async def test_yelp_shares_events_with_ticketmaster_and_eventbrite(
    api: YelpApi, client: httpx.AsyncClient, world: World
) -> None:
    """Some Yelp events are Ticketmaster's and some Eventbrite's: same address and start."""
    yelp = {
        (e["location"]["address1"], _start(e).astimezone(dt.UTC)): e["name"]
        for e in await _all(client)
    }
    tm: dict[tuple[str, dt.datetime], str] = {}
    for event in world.events:
        payload = render_event(event, base_url=BASE, anchor=world.anchor)
        when = payload["dates"]["start"].get("dateTime")
        if when:
            address = payload["_embedded"]["venues"][0]["address"]["line1"]
            tm[(address, dt.datetime.fromisoformat(when))] = payload["name"]
    with_tm = yelp.keys() & tm.keys()
    assert len(with_tm) > 200
    assert sum(yelp[k] != tm[k] for k in with_tm) > 30

    eventbrite = EventbriteApi(world, rate_limit=False)
    eventbrite.publish(BASE)
    eb: set[tuple[str, dt.datetime]] = set()
    async with _client(eventbrite, headers={"Authorization": f"Bearer {eventbrite.key}"}) as eb_c:
        for venue in eventbrite.eventbrite_venues:
            params: dict[str, Any] = {"expand": "venue", "page_size": 200}
            response = await eb_c.get(f"{EB_PREFIX}/venues/{venue}/events/", params=params)
            for e in response.json()["events"]:
                start = dt.datetime.fromisoformat(e["start"]["utc"].replace("Z", "+00:00"))
                eb.add((e["venue"]["address"]["address_1"], start))
    with_eb = yelp.keys() & eb
    assert with_eb
    assert with_eb - tm.keys()  # local events only Eventbrite and Yelp carry


async def test_two_sandboxes_from_the_same_world_answer_identically(world: World) -> None:
    """Ids and page bytes are deterministic for the same world."""
    first = _published(world, rate_limit=False)
    second = _published(build_world(NYC, anchor=ANCHOR), rate_limit=False)
    params = {**CENTRE, "limit": 50, "offset": 100, "sort_on": "time_start"}
    async with _client(first, headers=AUTH) as a, _client(second, headers=AUTH) as b:
        one = await a.get(f"{PREFIX}/events", params=params)
        two = await b.get(f"{PREFIX}/events", params=params)
    assert one.content == two.content


@pytest.mark.integration
async def test_serve_registers_yelp() -> None:
    """A real sandbox reports Yelp's URL and key and answers a search over loopback."""
    async with trio.open_nursery() as nursery:
        info = await nursery.start(functools.partial(serve, NYC, rate_limit=False))
        assert info.urls["yelp"] == info.base_url + PREFIX
        assert info.keys["yelp"] == API_KEY
        async with httpx.AsyncClient(timeout=10, headers=AUTH) as client:
            response = await client.get(f"{info.urls['yelp']}/events", params=CENTRE)
        assert response.status_code == 200
        assert response.json()["total"] > 100
        assert "ratelimit-resettime" in response.headers
        nursery.cancel_scope.cancel()
