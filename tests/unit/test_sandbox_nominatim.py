"""The Nominatim emulation: usage policy (User-Agent, 1 request/s), jsonv2 shapes, errors."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from scenescout_cli.cities import city_from_slug
from scenescout_cli.sandbox.data import World, build_world
from scenescout_cli.sandbox.nominatim import LICENCE, NominatimApi, generic_agent

ANCHOR = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
AGENT = {"User-Agent": "scenescout/0.1 (+https://example.org/scenescout)"}
PHILHARMONIE = "Philharmonie Berlin, Herbert-von-Karajan-Straße 1, 10785 Berlin"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(city_from_slug("berlin"), anchor=ANCHOR)


def _client(api: NominatimApi) -> httpx.AsyncClient:
    api.publish("http://sandbox.test")
    app = Starlette(routes=[Mount(api.prefix, routes=api.routes())])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(NominatimApi(world, rate_limit=False)) as client:
        yield client


async def _search(client: httpx.AsyncClient, headers: Any = None, **params: Any) -> httpx.Response:
    params.setdefault("format", "jsonv2")
    return await client.get(
        "/nominatim/search", params=params, headers=AGENT if headers is None else headers
    )


@pytest.mark.parametrize(
    ("agent", "generic"),
    [
        (None, True),
        ("", True),
        ("python-httpx/0.28.1", True),
        ("python-requests/2.32.3", True),
        ("Python-urllib/3.11", True),
        ("curl/8.5.0", True),
        ("geopy/2.4.1", True),
        ("Mozilla/5.0", True),
        ("scenescout/0.1 (ops@example.org)", False),
        ("Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", False),
    ],
)
def test_stock_user_agents_are_generic(agent: str | None, generic: bool) -> None:
    """Missing, empty and stock library agents fail the policy; identifying ones pass."""
    assert generic_agent(agent) is generic


async def test_a_generic_user_agent_is_blocked(client: httpx.AsyncClient) -> None:
    """A stock agent gets 403 and the HTML block page; a Referer identifies the app too."""
    blocked = await _search(client, {"User-Agent": "python-httpx/0.28.1"}, q="Berlin")
    assert blocked.status_code == 403
    assert blocked.headers["content-type"].startswith("text/html")
    assert b"Access blocked" in blocked.content
    referred = await _search(
        client, {"User-Agent": "python-httpx/0.28.1", "Referer": "https://example.org/"}, q="Berlin"
    )
    assert referred.status_code == 200


async def test_results_have_the_jsonv2_shape(client: httpx.AsyncClient) -> None:
    """An array; lat/lon and boundingbox as 7-decimal strings; ids as integers."""
    response = await _search(client, q=PHILHARMONIE, limit=1)
    assert response.status_code == 200
    (item,) = response.json()
    assert item["name"] == "Philharmonie Berlin"
    assert (item["category"], item["type"]) == ("amenity", "concert_hall")
    assert item["licence"] == LICENCE
    assert isinstance(item["place_id"], int)
    assert isinstance(item["osm_id"], int)
    assert item["osm_type"] in ("node", "way", "relation")
    for value in (item["lat"], item["lon"], *item["boundingbox"]):
        assert re.fullmatch(r"-?\d+\.\d{7}", value)
    assert len(item["boundingbox"]) == 4
    assert abs(float(item["lat"]) - 52.5098) < 0.001
    assert abs(float(item["lon"]) - 13.3700) < 0.001
    assert isinstance(item["importance"], float)
    assert item["addresstype"]
    assert item["display_name"].startswith("Philharmonie Berlin, 1, Herbert-von-Karajan-Straße")
    assert "class" not in item
    classic = (await _search(client, q=PHILHARMONIE, format="json")).json()[0]
    assert classic["class"] == "amenity"
    assert "category" not in classic


async def test_addresses_and_the_city_are_found_too(client: httpx.AsyncClient) -> None:
    """A street address finds one building (two venues may share it); the city, its relation."""
    building = (await _search(client, q="Friedrichstr. 107, Berlin")).json()
    assert len(building) == 1
    assert (building[0]["category"], building[0]["type"]) == ("building", "yes")
    city = (await _search(client, q="Berlin", addressdetails=1)).json()
    assert (city[0]["category"], city[0]["type"], city[0]["osm_type"]) == (
        "boundary",
        "administrative",
        "relation",
    )
    assert city[0]["address"]["country_code"] == "de"


async def test_no_match_is_an_empty_array(client: httpx.AsyncClient) -> None:
    """Nothing found: ``[]`` with HTTP 200."""
    response = await _search(client, q="Nowhere Street 999, Atlantis")
    assert response.status_code == 200
    assert response.json() == []
    assert (await _search(client, q=PHILHARMONIE, countrycodes="fr")).json() == []


async def test_bad_requests_get_the_json_error_body(client: httpx.AsyncClient) -> None:
    """No query, q with structured fields, or an unknown format: 400 ``{"error": {...}}``."""
    for params in ({}, {"q": "Berlin", "city": "Berlin"}, {"q": "Berlin", "format": "yaml"}):
        response = await _search(client, **params)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 400
        assert error["message"]
    structured = await _search(client, street="Herbert-von-Karajan-Straße 1", city="Berlin")
    assert structured.json()


async def test_more_than_one_request_a_second_gets_429(world: World) -> None:
    """A second request within the window: 429; after it, served again."""
    clock = FakeClock()
    async with _client(NominatimApi(world, monotonic=clock)) as client:
        assert (await _search(client, q="Berlin")).status_code == 200
        clock.now += 0.5
        refused = await _search(client, q="Berlin")
        assert refused.status_code == 429
        clock.now += 0.5
        assert (await _search(client, q="Berlin")).status_code == 200


async def test_answers_are_deterministic(world: World) -> None:
    """Two servers for the same world answer the same bytes."""
    bodies = []
    for _ in range(2):
        async with _client(
            NominatimApi(build_world(city_from_slug("berlin"), anchor=ANCHOR), rate_limit=False)
        ) as client:
            bodies.append((await _search(client, q=PHILHARMONIE, limit=5)).content)
    assert bodies[0] == bodies[1]
