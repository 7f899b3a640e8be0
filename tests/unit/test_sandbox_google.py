"""The Google Places (New) and Geocoding emulations: keys, masks, paging, errors, data."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from scenescout_cli.cities import city_from_slug
from scenescout_cli.sandbox.data import World, build_world
from scenescout_cli.sandbox.google import (
    API_KEY,
    GEOCODING_QPS,
    QUOTA_PER_MINUTE,
    GoogleGeocodingApi,
    GooglePlacesApi,
    build_places,
)

ANCHOR = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
BASE = "http://sandbox.test"
PLACES = "/google/places/v1"
GEOCODE = "/google/maps/api/geocode/json"
TIMES_SQUARE = {"latitude": 40.758, "longitude": -73.9855}
KEY = {"X-Goog-Api-Key": API_KEY}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(city_from_slug("nyc"), anchor=ANCHOR)


def _client(*apis: Any) -> httpx.AsyncClient:
    for api in apis:
        api.publish(BASE)
    app = Starlette(routes=[Mount(a.prefix, routes=a.routes()) for a in apis])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    places = GooglePlacesApi(world, rate_limit=False)
    geocoding = GoogleGeocodingApi(world, rate_limit=False)
    async with _client(places, geocoding) as client:
        yield client


def _nearby(radius: float = 2000, **extra: Any) -> dict[str, Any]:
    return {"locationRestriction": {"circle": {"center": TIMES_SQUARE, "radius": radius}}, **extra}


async def _post(
    client: httpx.AsyncClient,
    method: str,
    body: dict[str, Any],
    mask: str | None = "*",
    **headers: str,
) -> httpx.Response:
    sent = {**KEY, **headers}
    if mask is not None:
        sent["X-Goog-FieldMask"] = mask
    return await client.post(f"{PLACES}/places:{method}", json=body, headers=sent)


def _error(response: httpx.Response, code: int, status: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    return error


async def test_a_missing_or_wrong_key_is_permission_denied(client: httpx.AsyncClient) -> None:
    """No key or a wrong key: 403 PERMISSION_DENIED in Google's envelope with an ErrorInfo."""
    for headers, reason in (({}, "API_KEY_MISSING"), ({"X-Goog-Api-Key": "x"}, "API_KEY_INVALID")):
        response = await client.post(
            f"{PLACES}/places:searchNearby", json=_nearby(), headers=headers
        )
        error = _error(response, 403, "PERMISSION_DENIED")
        assert error["details"][0]["reason"] == reason
    response = await client.post(
        f"{PLACES}/places:searchNearby",
        params={"key": API_KEY, "fields": "places.id"},
        json=_nearby(),
    )
    assert response.status_code == 200


async def test_the_field_mask_is_required(client: httpx.AsyncClient) -> None:
    """Without X-Goog-FieldMask (or ?fields=): 400 INVALID_ARGUMENT with Google's message."""
    for method, body in (("searchNearby", _nearby()), ("searchText", {"textQuery": "jazz"})):
        response = await _post(client, method, body, mask=None)
        error = _error(response, 400, "INVALID_ARGUMENT")
        assert error["message"].startswith("FieldMask is a required parameter.")


async def test_the_field_mask_is_honoured(client: httpx.AsyncClient) -> None:
    """Only masked fields come back, nested paths included; unknown paths are refused."""
    response = await _post(
        client, "searchNearby", _nearby(), "places.id,places.displayName.text,places.rating"
    )
    places = response.json()["places"]
    assert places
    for place in places:
        assert set(place) <= {"id", "displayName", "rating"}
        assert set(place["displayName"]) == {"text"}
    everything = (await _post(client, "searchNearby", _nearby(), "*")).json()["places"]
    assert {"formattedAddress", "location", "types", "businessStatus"} <= set(everything[0])
    bad = await _post(client, "searchNearby", _nearby(), "places.id,places.displayNam")
    error = _error(bad, 400, "INVALID_ARGUMENT")
    assert "places.displayNam" in error["message"]


async def test_an_empty_search_answers_an_empty_object(client: httpx.AsyncClient) -> None:
    """Proto3: nothing found is ``{}``, not ``{"places": []}``."""
    far = {
        "locationRestriction": {"circle": {"center": {"latitude": 0, "longitude": 0}, "radius": 10}}
    }
    assert (await _post(client, "searchNearby", far)).json() == {}
    text = await _post(client, "searchText", {"textQuery": "zzzz qqqq"}, "places.id,nextPageToken")
    assert text.json() == {}


async def test_nearby_search_caps_and_filters(client: httpx.AsyncClient) -> None:
    """At most 20 places; types filter; DISTANCE orders; limits are validated."""
    body = _nearby(10_000, includedTypes=["performing_arts_theater"], rankPreference="DISTANCE")
    response = await _post(client, "searchNearby", body, "places.types,places.location")
    places = response.json()["places"]
    assert 1 < len(places) <= 20
    assert all("performing_arts_theater" in p["types"] for p in places)
    cases = [
        (_nearby(50_001), "radius"),
        (_nearby(maxResultCount=21), "max_result_count"),
        (_nearby(includedTypes=["rave_cave"]), "Unsupported types"),
        (_nearby(rankPreference="NEAREST"), "rank_preference"),
        (_nearby(textQuery="jazz"), 'Unknown name "textQuery"'),
        ({}, "location_restriction"),
    ]
    for body, fragment in cases:
        error = _error(await _post(client, "searchNearby", body), 400, "INVALID_ARGUMENT")
        assert fragment in error["message"], body
    small = await _post(client, "searchNearby", _nearby(maxResultCount=3), "places.id")
    assert len(small.json()["places"]) == 3


async def test_text_search_pages_up_to_sixty(client: httpx.AsyncClient) -> None:
    """Pages of ≤20 with nextPageToken (only when masked), 3 pages and 60 places at most."""
    body: dict[str, Any] = {"textQuery": "New York", "pageSize": 25}  # matches all 64
    seen: list[str] = []
    pages = 0
    while True:
        response = await _post(client, "searchText", body, "places.id,nextPageToken")
        page = response.json()
        assert len(page["places"]) <= 20
        seen.extend(p["id"] for p in page["places"])
        pages += 1
        if "nextPageToken" not in page:
            break
        body = {**body, "pageToken": page["nextPageToken"]}
    assert pages == 3
    assert len(seen) == len(set(seen)) == 60
    unmasked = await _post(client, "searchText", {"textQuery": "venue in New York"}, "places.id")
    assert "nextPageToken" not in unmasked.json()
    first = await _post(client, "searchText", {"textQuery": "venue"}, "nextPageToken")
    token = first.json()["nextPageToken"]
    changed = {"textQuery": "venues", "pageToken": token}
    _error(await _post(client, "searchText", changed, "places.id"), 400, "INVALID_ARGUMENT")
    forged = {"textQuery": "venue", "pageToken": "AeeoHcKnope"}
    _error(await _post(client, "searchText", forged, "places.id"), 400, "INVALID_ARGUMENT")


async def test_text_search_finds_real_venues_and_checks_its_body(client: httpx.AsyncClient) -> None:
    """Names and kinds match; a circle restriction and unknown fields are refused."""
    response = await _post(
        client, "searchText", {"textQuery": "Carnegie Hall"}, "places.displayName"
    )
    assert response.json()["places"][0]["displayName"]["text"] == "Carnegie Hall"
    jazz = await _post(
        client,
        "searchText",
        {"textQuery": "jazz club", "includedType": "bar", "strictTypeFiltering": True},
        "places.displayName,places.types",
    )
    assert jazz.json()["places"]
    assert all("bar" in p["types"] for p in jazz.json()["places"])
    circle = {"textQuery": "jazz", "locationRestriction": _nearby()["locationRestriction"]}
    _error(await _post(client, "searchText", circle), 400, "INVALID_ARGUMENT")
    unknown = {"textQuery": "jazz", "locationBias": {"square": {}}}
    error = _error(await _post(client, "searchText", unknown), 400, "INVALID_ARGUMENT")
    assert 'Unknown name "square"' in error["message"]


def test_places_are_the_world_venues_with_realistic_gaps(world: World) -> None:
    """Every venue plus two closed duplicates; most rated and with websites; never nulls."""
    places = [p.json for p in build_places(world)]
    assert len(places) == len(world.venues) + 2
    assert {p["displayName"]["text"] for p in places} == {v.name for v in world.venues}
    closed = [p for p in places if p["businessStatus"] == "CLOSED_PERMANENTLY"]
    assert len(closed) == 2
    open_ = [p for p in places if p["businessStatus"] == "OPERATIONAL"]
    rated = sum("rating" in p for p in open_)
    assert 0.7 * len(open_) <= rated < len(open_)
    assert 0.6 * len(open_) <= sum("websiteUri" in p for p in open_) < len(open_)
    assert all(p["timeZone"] == {"id": "America/New_York"} for p in places)
    assert all(p["postalAddress"]["regionCode"] == "US" for p in places)
    kinds = {t for p in places for t in p["types"]}
    assert {"concert_hall", "performing_arts_theater", "night_club", "stadium"} <= kinds

    def no_nulls(value: Any) -> bool:
        if isinstance(value, dict):
            return all(v is not None and no_nulls(v) for v in value.values())
        if isinstance(value, list):
            return all(no_nulls(v) for v in value)
        return True

    assert all(no_nulls(p) for p in places)
    assert [p.json for p in build_places(world)] == places


async def test_details_and_photo_media(client: httpx.AsyncClient, world: World) -> None:
    """Place Details masks without ``places.``; photo media redirects to the image route."""
    place = next(p.json for p in build_places(world) if "photos" in p.json)
    response = await client.get(
        f"{PLACES}/places/{place['id']}", headers={**KEY, "X-Goog-FieldMask": "id,location"}
    )
    assert response.json() == {"id": place["id"], "location": place["location"]}
    missing = await client.get(
        f"{PLACES}/places/ChIJnope", headers={**KEY, "X-Goog-FieldMask": "id"}
    )
    _error(missing, 404, "NOT_FOUND")
    photo = place["photos"][0]
    media = f"{PLACES}/{photo['name']}/media"
    redirect = await client.get(media, params={"maxWidthPx": 400}, headers=KEY)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(f"{BASE}/img/google/")
    width = int(location.rsplit("_", 1)[1].split("x")[0])
    assert width == min(400, photo["widthPx"])
    skip = await client.get(
        media, params={"maxHeightPx": 100, "skipHttpRedirect": "true"}, headers=KEY
    )
    assert skip.json()["photoUri"].startswith(f"{BASE}/img/google/")
    _error(await client.get(media, headers=KEY), 400, "INVALID_ARGUMENT")


async def test_the_per_minute_quota_answers_resource_exhausted(world: World) -> None:
    """Past the per-method quota: 429 RESOURCE_EXHAUSTED; other methods keep their own."""
    clock = FakeClock()
    async with _client(GooglePlacesApi(world, monotonic=clock)) as client:
        for _ in range(QUOTA_PER_MINUTE):
            assert (await _post(client, "searchNearby", _nearby(), "places.id")).status_code == 200
        limited = await _post(client, "searchNearby", _nearby(), "places.id")
        _error(limited, 429, "RESOURCE_EXHAUSTED")
        text = await _post(client, "searchText", {"textQuery": "jazz"}, "places.id")
        assert text.status_code == 200
        clock.now += 60.0
        assert (await _post(client, "searchNearby", _nearby(), "places.id")).status_code == 200


async def _geocode(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    params.setdefault("key", API_KEY)
    response = await client.get(GEOCODE, params=params)
    assert response.status_code == 200
    return response.json()


async def test_geocoding_statuses_come_in_the_body(client: httpx.AsyncClient) -> None:
    """OK (ROOFTOP), ZERO_RESULTS, REQUEST_DENIED and INVALID_REQUEST, all with HTTP 200."""
    body = await _geocode(client, address="4 Pennsylvania Plaza, New York, NY 10001, USA")
    assert body["status"] == "OK"
    (result,) = body["results"]
    assert result["formatted_address"] == "4 Pennsylvania Plaza, New York, NY 10001, USA"
    assert result["geometry"]["location"] == {"lat": 40.7505, "lng": -73.9934}
    assert result["geometry"]["location_type"] == "ROOFTOP"
    assert "partial_match" not in result
    named = await _geocode(client, address="Carnegie Hall, New York")
    assert "establishment" in named["results"][0]["types"]
    partial = await _geocode(client, address="881 7th Avenue, Suite 9, New York")
    assert partial["results"][0]["partial_match"] is True
    assert await _geocode(client, address="1 Nowhere Lane, Atlantis") == {
        "results": [],
        "status": "ZERO_RESULTS",
    }
    for params in ({"key": ""}, {"key": "wrong"}):
        denied = await _geocode(client, address="Carnegie Hall", **params)
        assert denied["status"] == "REQUEST_DENIED"
        assert denied["error_message"]
    invalid = await _geocode(client)
    assert invalid["status"] == "INVALID_REQUEST"
    city = await _geocode(client, address="New York")
    assert city["results"][0]["geometry"]["location_type"] == "APPROXIMATE"


async def test_geocoding_rate_limit_is_over_query_limit(world: World) -> None:
    """More than 50 requests a second: OVER_QUERY_LIMIT in the body."""
    clock = FakeClock()
    async with _client(GoogleGeocodingApi(world, monotonic=clock)) as client:
        for _ in range(GEOCODING_QPS):
            assert (await _geocode(client, address="Carnegie Hall"))["status"] == "OK"
        assert (await _geocode(client, address="Carnegie Hall"))["status"] == "OVER_QUERY_LIMIT"
        clock.now += 1.0
        assert (await _geocode(client, address="Carnegie Hall"))["status"] == "OK"
