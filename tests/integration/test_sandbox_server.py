"""The sandbox over real loopback sockets: the Ticketmaster API as documented and observed."""

from __future__ import annotations

import datetime as dt
import functools
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from scenescout_cli.cities import city_from_slug
from scenescout_cli.sandbox import SandboxInfo, serve
from scenescout_cli.sandbox.data import anchor_for, build_world
from scenescout_cli.sandbox.ticketmaster import event_id

pytestmark = pytest.mark.integration

NYC = city_from_slug("nyc")
NYC_GEOHASH = "dr5rsqu"  # the city centre
SPIKE_BODY = {
    "fault": {
        "faultstring": "Spike arrest violation. Allowed rate : MessageRate{messagesPerPeriod=5, "
        "periodInMicroseconds=1000000, maxBurstMessageRate=5.0}",
        "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
    }
}


@pytest.fixture
async def sandbox(nursery: trio.Nursery) -> SandboxInfo:
    return await nursery.start(serve, NYC)


@pytest.fixture
async def unlimited(nursery: trio.Nursery) -> SandboxInfo:
    return await nursery.start(functools.partial(serve, NYC, rate_limit=False))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def _search(client: httpx.AsyncClient, info: SandboxInfo, **params: object) -> httpx.Response:
    params.setdefault("apikey", info.keys["ticketmaster"])
    return await client.get(f"{info.ticketmaster_url}/events.json", params=params)


def _z(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_started_info_points_at_a_listening_loopback_server(
    sandbox: SandboxInfo, client
) -> None:
    """``started`` reports the bound port, the TM base URL, the key and the event count."""
    assert sandbox.base_url.startswith("http://127.0.0.1:")
    assert not sandbox.base_url.endswith(":0")
    assert sandbox.ticketmaster_url == sandbox.base_url + "/tm/discovery/v2"
    assert sandbox.keys["ticketmaster"] == "sandbox-ticketmaster-key"
    assert sandbox.urls["ticketmaster"] == sandbox.ticketmaster_url
    assert "sandbox-ticketmaster-key" not in repr(sandbox)
    assert sandbox.event_count == 2500
    response = await _search(client, sandbox)
    assert response.status_code == 200
    assert response.json()["page"]["totalElements"] == 2500


async def test_paging_by_id_walks_a_window_exactly_once(unlimited: SandboxInfo, client) -> None:
    """Following pages with sort=id,asc yields every event of a one-day window once."""
    anchor = anchor_for()
    start, end = anchor + dt.timedelta(days=2), anchor + dt.timedelta(days=3, seconds=-1)
    world = build_world(NYC, anchor=anchor)
    expected = {
        event_id(e) for e in world.events if e.start is not None and start <= e.instant <= end
    }
    assert len(expected) > 40

    seen: list[str] = []
    page = 0
    while True:
        response = await _search(
            client,
            unlimited,
            geoPoint=NYC_GEOHASH,
            radius=50,
            unit="miles",
            size=20,
            page=page,
            sort="id,asc",
            startDateTime=_z(start),
            endDateTime=_z(end),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(e["id"] for e in body["_embedded"]["events"])
        assert body["page"]["totalElements"] == len(expected)
        if "next" not in body["_links"]:
            break
        page += 1
    assert page == body["page"]["totalPages"] - 1
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert set(seen) == expected


async def test_geo_queries_report_distance_and_tba_follows_the_default(unlimited, client) -> None:
    """Geo results carry distance+units; TBA events only appear when no date is sent."""
    body = (
        await _search(client, unlimited, geoPoint=NYC_GEOHASH, radius=5, unit="km", size=200)
    ).json()
    events = body["_embedded"]["events"]
    assert all(e["units"] == "KILOMETERS" and e["distance"] <= 5 for e in events)
    assert any(e["dates"]["start"].get("dateTBA") for e in events) or body["page"]["totalPages"] > 1

    dated = await _search(
        client, unlimited, startDateTime=_z(anchor_for()), size=200, includeTBA="only"
    )
    only = dated.json()["_embedded"]["events"]
    assert only
    assert all(e["dates"]["start"]["dateTBA"] for e in only)
    everything = (await _search(client, unlimited, startDateTime=_z(anchor_for()))).json()
    assert everything["page"]["totalElements"] < 2500  # TBA/TBD excluded once a date is sent


async def test_a_missing_or_wrong_key_gets_the_apigee_fault(sandbox: SandboxInfo, client) -> None:
    """No key or a wrong key: 401 with the Apigee body and no rate-limit headers."""
    expected = {
        "fault": {
            "faultstring": "Invalid ApiKey",
            "detail": {"errorcode": "oauth.v2.InvalidApiKey"},
        }
    }
    for key in (None, "wrong"):
        params = {} if key is None else {"apikey": key}
        response = await client.get(f"{sandbox.ticketmaster_url}/events.json", params=params)
        assert response.status_code == 401
        assert response.json() == expected
        assert "rate-limit" not in response.headers


async def test_bad_parameters_get_the_discovery_errors(unlimited: SandboxInfo, client) -> None:
    """DIS1015 for a bad date, DIS1036 for size 201, DIS1035 past the paging depth."""
    cases = [
        ({"startDateTime": "2026-12-01T00:00:00.000Z"}, "DIS1015"),
        ({"endDateTime": "2026-12-01 00:00:00"}, "DIS1015"),
        ({"size": 201}, "DIS1036"),
        ({"size": 200, "page": 6}, "DIS1035"),
        ({"size": 100, "page": 11}, "DIS1035"),
    ]
    for params, code in cases:
        response = await _search(client, unlimited, **params)
        assert response.status_code == 400, params
        (error,) = response.json()["errors"]
        assert error["code"] == code
        assert error["status"] == "400 BAD_REQUEST"
        assert "rate-limit" not in response.headers
    served = await _search(client, unlimited, size=200, page=5)  # offset 1,000 is served
    assert served.status_code == 200
    assert served.json()["page"]["number"] == 5


async def test_more_than_five_requests_a_second_hit_the_spike_arrest(
    sandbox: SandboxInfo, client
) -> None:
    """Eight concurrent requests: at most five pass, the rest get 429 without Retry-After."""
    responses: list[httpx.Response] = []

    async def one() -> None:
        responses.append(await _search(client, sandbox, size=1))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(one)
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) + len(refused) == 8
    assert len(ok) <= 5
    assert refused
    for response in refused:
        assert response.json() == SPIKE_BODY
        assert "retry-after" not in response.headers


async def test_success_carries_the_rate_limit_headers(sandbox: SandboxInfo, client) -> None:
    """Rate-Limit, -Available (counting down), -Over and -Reset (epoch ms) on 200s."""
    first = await _search(client, sandbox, size=1)
    second = await _search(client, sandbox, size=1)
    assert first.headers["rate-limit"] == "5000"
    assert int(first.headers["rate-limit-available"]) - 1 == int(
        second.headers["rate-limit-available"]
    )
    assert first.headers["rate-limit-over"] == "0"
    reset = int(first.headers["rate-limit-reset"]) / 1000  # epoch ms: a day after the first call
    now = dt.datetime.now(dt.UTC).timestamp()
    assert now < reset <= now + 86_400


async def test_images_are_served_as_jpegs(sandbox: SandboxInfo, client) -> None:
    """An event's image URL points at the sandbox and returns JPEG bytes."""
    body = (await _search(client, sandbox, size=5)).json()
    image = body["_embedded"]["events"][0]["images"][0]
    assert image["url"].startswith(sandbox.base_url + "/img/tm/")
    response = await client.get(image["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"
    assert response.content[-2:] == b"\xff\xd9"
    assert (await client.get(sandbox.base_url + "/img/tm/nothing.gif")).status_code == 404


async def test_the_key_never_appears_in_links_or_bodies(unlimited: SandboxInfo, client) -> None:
    """Neither the HAL links nor any other part of a page echoes the apikey."""
    key = unlimited.keys["ticketmaster"]
    response = await _search(client, unlimited, geoPoint=NYC_GEOHASH, size=3, page=1)
    body = response.json()
    assert key not in response.text
    assert set(body["_links"]) == {"first", "self", "prev", "next", "last"}
    assert body["_links"]["self"]["href"].startswith("/discovery/v2/events.json?geoPoint=")
    assert all(
        e["_links"]["self"]["href"].startswith("/discovery/v2/events/")
        for e in body["_embedded"]["events"]
    )
    # The relative href resolves against the sandbox like it does against the real host.
    href = body["_links"]["next"]["href"].replace("{&sort}", "")
    follow = await client.get(f"{unlimited.base_url}{href}&apikey={key}")
    assert follow.json()["page"]["number"] == 2


async def test_event_details_and_a_missing_id(unlimited: SandboxInfo, client) -> None:
    """/events/{id}.json returns the same event; an unknown id gets 404 DIS1004."""
    key = unlimited.keys["ticketmaster"]
    listed = (await _search(client, unlimited, size=1)).json()["_embedded"]["events"][0]
    one = await client.get(
        f"{unlimited.ticketmaster_url}/events/{listed['id']}.json", params={"apikey": key}
    )
    assert one.status_code == 200
    assert one.json() == listed
    missing = await client.get(
        f"{unlimited.ticketmaster_url}/events/nope.json", params={"apikey": key}
    )
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "DIS1004"


async def test_cancelling_closes_the_listener_and_open_connections(client) -> None:
    """Cancelled with a kept-alive connection open, the server closes it and the port."""
    async with trio.open_nursery() as nursery:
        info = await nursery.start(functools.partial(serve, NYC, events=50))
        assert info.event_count == 50
        assert (await _search(client, info, size=1)).status_code == 200
        nursery.cancel_scope.cancel()
    with pytest.raises(httpx.ConnectError):
        await _search(client, info, size=1)


async def test_only_loopback_is_served() -> None:
    """Any host but IPv4 loopback is refused before anything is bound."""
    with pytest.raises(ValueError, match="loopback"):
        await serve(NYC, host="0.0.0.0")


async def test_a_taken_port_raises_oserror_and_leaks_nothing() -> None:
    """Asking for a port in use raises OSError at once, with no socket left open."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            await serve(NYC, port=taken.getsockname()[1])
