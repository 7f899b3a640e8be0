"""The sandbox's world and its Ticketmaster rendering: deterministic, realistic, quirky."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from typing import Any

import pytest

from scenescout_cli.cities import city_from_slug, city_near, presets
from scenescout_cli.model import CATEGORIES
from scenescout_cli.sandbox.data import (
    World,
    _extend,
    build_world,
    default_event_count,
    distance_km,
    venues_for,
)
from scenescout_cli.sandbox.ticketmaster import _Index

ANCHOR = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
NYC = city_from_slug("nyc")


@pytest.fixture(scope="module")
def nyc() -> World:
    return build_world(NYC, anchor=ANCHOR)


@pytest.fixture(scope="module")
def nyc_payloads(nyc: World) -> list[dict[str, Any]]:
    index = _Index(nyc, "http://127.0.0.1:1")
    return [json.loads(body + b"}") for body in index.bodies]


def test_same_seed_city_and_anchor_give_identical_worlds(nyc: World) -> None:
    """Building the same world twice yields equal events and byte-identical payloads."""
    again = build_world(NYC, anchor=ANCHOR)
    assert again.events == nyc.events
    assert _Index(again, "http://x").bodies == _Index(nyc, "http://x").bodies


def test_another_seed_gives_another_world(nyc: World) -> None:
    """A different seed changes the events."""
    other = build_world(NYC, anchor=ANCHOR, seed=1)
    assert {e.key for e in other.events}.isdisjoint({e.key for e in nyc.events})
    assert [e.title for e in other.events[:50]] != [e.title for e in nyc.events[:50]]


def test_nyc_holds_2500_events_in_the_next_30_days(nyc: World) -> None:
    """The nyc default is 2,500 events; the dated ones all start inside the window."""
    assert default_event_count(NYC) == 2500
    assert len(nyc.events) == 2500
    dated = [e for e in nyc.events if e.start is not None]
    assert len(dated) >= 2000
    assert all(nyc.anchor <= e.instant < nyc.end for e in dated)
    assert [e.instant for e in dated] == sorted(e.instant for e in dated)


def test_an_explicit_count_is_exact() -> None:
    """``events=N`` gives exactly N events, larger or smaller than the default."""
    assert len(build_world(NYC, anchor=ANCHOR, events=300).events) == 300
    assert len(build_world(NYC, anchor=ANCHOR, events=6000).events) == 6000


def test_a_day_later_keeps_almost_every_shared_event(nyc: World) -> None:
    """Anchored one day later, the days both windows cover hold nearly the same events."""
    later = build_world(NYC, anchor=ANCHOR + dt.timedelta(days=1))
    shared = {e.key for e in nyc.events if e.start and e.instant >= later.anchor}
    kept = {e.key for e in later.events if e.start and e.instant < nyc.end}
    assert len(shared & kept) >= 0.95 * len(shared)


@pytest.mark.parametrize("city", presets(), ids=lambda c: c.slug)
def test_every_preset_has_venues_inside_its_radius_and_events(city) -> None:
    """Each preset city's venues lie within its radius, and its world holds events."""
    venues = venues_for(city)
    assert len(venues) >= 8
    for venue in venues:
        assert (
            distance_km(city.area.lat, city.area.lon, venue.lat, venue.lon) <= city.area.radius_km
        )
    world = build_world(city, anchor=ANCHOR)
    assert len(world.events) == default_event_count(city) > 0
    assert {e.category for e in world.events} <= set(CATEGORIES)


def test_nyc_events_span_the_categories_at_real_venues(nyc: World) -> None:
    """Music, comedy, theatre, sports, family, film and arts all appear, at ~60 real venues."""
    categories = Counter(e.category for e in nyc.events)
    for category in ("music", "comedy", "theater", "sports", "family", "film", "arts"):
        assert categories[category] > 0, category
    names = {v.name for v in nyc.venues}
    assert {"Madison Square Garden", "Carnegie Hall", "Village Vanguard", "Citi Field"} <= names
    sports = [e.title for e in nyc.events if e.category == "sports" and "vs." in e.title]
    assert any(title.startswith("New York Knicks vs. ") for title in sports)


def test_an_area_without_presets_still_gets_events() -> None:
    """An ad-hoc area far from every preset gets invented venues and events."""
    city = city_near("-33.87,151.21", 20)
    world = build_world(city, anchor=ANCHOR, days=7)
    assert len(world.events) > 0
    assert all(distance_km(-33.87, 151.21, v.lat, v.lon) <= 20 for v in world.venues)


def test_an_area_inside_a_preset_uses_its_real_venues() -> None:
    """An ad-hoc area over Midtown uses the real Manhattan venues inside it."""
    world = build_world(city_near("40.758,-73.985", 2), anchor=ANCHOR, days=3)
    names = {v.name for v in world.venues}
    assert "Richard Rodgers Theatre" in names
    assert "Barclays Center" not in names
    assert world.events


def test_bad_arguments_are_refused() -> None:
    """Zero days or a negative count raise ValueError."""
    with pytest.raises(ValueError, match="days"):
        build_world(NYC, days=0)
    with pytest.raises(ValueError, match="events"):
        build_world(NYC, events=-1)


# ---------------------------------------------------------------------------
# A bigger city: invented venues past three times the natural rate


def _natural(venues) -> float:
    return sum(v.rate for v in venues)


def test_the_default_world_and_moderate_counts_keep_the_real_venues(nyc: World) -> None:
    """Defaults and counts up to three times the natural rate add no venue."""
    assert nyc.venues == venues_for(NYC)
    assert build_world(NYC, anchor=ANCHOR, events=6000).venues == venues_for(NYC)
    for city in presets():
        assert default_event_count(city) < 1.5 * 30 * _natural(venues_for(city)), city.slug


def test_a_large_count_grows_the_city_at_the_natural_rate() -> None:
    """20k events in 3 days get invented venues; events per venue-day stay near 3× natural."""
    world = build_world(NYC, anchor=ANCHOR, days=3, events=20_000)
    real = venues_for(NYC)
    invented = world.venues[len(real) :]
    assert world.venues[: len(real)] == real
    assert len(invented) > 1000
    assert [v.key for v in invented] == [f"nyc/x-{n}" for n in range(1, len(invented) + 1)]
    dated = [e for e in world.events if e.start is not None]
    assert len(world.events) == 20_000
    per_venue_day = len(dated) / (len(world.venues) * world.days)
    natural = _natural(world.venues) / len(world.venues)
    assert 2 * natural <= per_venue_day <= 3.5 * natural  # without new venues: ~25×
    used = Counter(e.venue.key for e in dated)
    assert sum(used[v.key] for v in invented) > 0.9 * len(dated)
    assert max(used.values()) <= 30 * world.days  # no venue holds hundreds a day


def test_a_grown_month_is_exact_and_deterministic() -> None:
    """12k events over 30 days (the pilot path) are exact, repeatable and at new venues."""
    first = build_world(NYC, anchor=ANCHOR, events=12_000)
    again = build_world(NYC, anchor=ANCHOR, events=12_000)
    assert len(first.events) == 12_000
    assert len(first.venues) > len(venues_for(NYC))
    assert first.venues == again.venues
    assert first.events == again.events


@pytest.fixture(scope="module")
def invented() -> tuple:
    """The venues invented for a million events in nyc (the benchmark's largest world)."""
    real = venues_for(NYC)
    return _extend(NYC, real, 30, 990_000)[len(real) :]


def test_invented_venues_are_enough_ordinary_and_in_the_city(invented) -> None:
    """Their rates reach a third of the demand; real kinds; the city's zone and country."""
    assert _natural(venues_for(NYC)) + _natural(invented) >= 990_000 / (3 * 30)
    real_kinds = {v.kind for v in venues_for(NYC)}
    assert {v.kind for v in invented} <= real_kinds - {"broadway", "stadium"}
    assert len({v.kind for v in invented}) >= 8
    for v in invented:
        assert v.timezone == NYC.timezone
        assert v.country_code == "US"
        assert v.postal_code
        assert v.rate > 0
        assert v.capacity >= 40
        assert v.teams == v.months == ()
        assert v.residency is None
        assert v.resident is None


def test_invented_names_are_distinct_realistic_and_not_real(invented) -> None:
    """Names are unique, share no core, hold no digits and match no real venue anywhere."""
    names = [v.name.casefold() for v in invented]
    assert len(set(names)) == len(names)
    real = {v.name.casefold() for city in presets() for v in venues_for(city)}
    assert real.isdisjoint(names)
    assert not any(ch.isdigit() for name in names for ch in name)
    # The first two words are the distinctive core; two venues never share it.
    cores = [frozenset(v.name.removeprefix("The ").split()[:2]) for v in invented]
    assert len(set(cores)) == len(cores)
    addresses = [v.address for v in invented]
    assert len(set(addresses)) == len(addresses)


def test_invented_venues_are_spread_within_the_radius(invented) -> None:
    """Within 80% of the radius, never on one spot, and over the whole area."""
    area = NYC.area
    distances = [distance_km(area.lat, area.lon, v.lat, v.lon) for v in invented]
    assert max(distances) <= 0.8 * area.radius_km + 0.05
    assert sum(d < 0.4 * area.radius_km for d in distances) > 0.1 * len(invented)
    assert sum(d > 0.7 * area.radius_km for d in distances) > 0.1 * len(invented)
    spots = {(v.lat, v.lon) for v in invented} | {(v.lat, v.lon) for v in venues_for(NYC)}
    assert len(spots) == len(invented) + len(venues_for(NYC))


def test_invented_venues_keep_their_distance() -> None:
    """A few hundred invented venues are at least 250 m from each other and the real ones."""
    venues = _extend(NYC, venues_for(NYC), 30, 60_000)
    invented = venues[len(venues_for(NYC)) :]
    assert len(invented) > 200
    for i, a in enumerate(invented):
        for b in venues[: len(venues_for(NYC)) + i]:
            assert distance_km(a.lat, a.lon, b.lat, b.lon) >= 0.249, (a.name, b.name)


def test_invented_venues_are_stable_and_only_appended(invented) -> None:
    """A smaller grown world's venues are the first of a larger one's; seeds do not matter."""
    real = venues_for(NYC)
    smaller = _extend(NYC, real, 30, 60_000)[len(real) :]
    assert invented[: len(smaller)] == smaller
    assert build_world(NYC, anchor=ANCHOR, days=3, events=3000, seed=5).venues == (
        build_world(NYC, anchor=ANCHOR, days=3, events=3000).venues
    )


def test_other_cities_grow_in_their_own_style() -> None:
    """Berlin's invented addresses read "Straße 12"; Paris's "12 Rue des ..."; Sydney grows too."""
    for slug, pattern in (("berlin", r"\D+ \d+"), ("paris", r"\d+ \D+ de[s ].+")):
        city = city_from_slug(slug)
        real = venues_for(city)
        grown = _extend(city, real, 30, 50_000)[len(real) :]
        assert grown
        assert all(re.fullmatch(pattern, v.address) for v in grown), slug
        assert all(v.country_code == real[0].country_code for v in grown)
    sydney = city_near("-33.87,151.21", 20)
    world = build_world(sydney, anchor=ANCHOR, days=3, events=3000)
    assert len(world.venues) > len(venues_for(sydney))
    assert all(distance_km(-33.87, 151.21, v.lat, v.lon) <= 20 for v in world.venues)
    assert len(world.events) == 3000


# ---------------------------------------------------------------------------
# Ticketmaster rendering


def test_ticketmaster_ids_are_unique_and_shaped_like_the_real_ones(nyc_payloads) -> None:
    """Event ids are 13 to 21 characters of [A-Za-z0-9_-] and unique."""
    ids = [p["id"] for p in nyc_payloads]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{13,21}", i) for i in ids)
    assert len({len(i) for i in ids}) > 5


def test_quirks_appear_in_realistic_proportions(nyc_payloads) -> None:
    """Missing timezones, both cancel spellings, TBA, noSpecificTime, ends, prices, images."""
    n = len(nyc_payloads)
    dates = [p["dates"] for p in nyc_payloads]
    no_tz = sum("timezone" not in d for d in dates)
    assert 0.15 * n <= no_tz <= 0.25 * n
    codes = Counter(d["status"]["code"] for d in dates)
    assert codes["cancelled"] > 0
    assert codes["canceled"] > 0
    assert codes["postponed"] > 0
    assert codes["onsale"] > 0.8 * n
    tba = [d for d in dates if d["start"].get("dateTBA")]
    assert tba
    assert all("localDate" not in d["start"] and "dateTime" not in d["start"] for d in tba)
    no_time = [d for d in dates if d["start"].get("noSpecificTime")]
    assert no_time
    assert all("localTime" not in d["start"] and "dateTime" not in d["start"] for d in no_time)
    assert sum("end" in d for d in dates) > 0
    assert any(d["spanMultipleDays"] for d in dates)
    priced = sum("priceRanges" in p for p in nyc_payloads)
    assert 0.1 * n <= priced <= 0.4 * n
    counts = [len(p["images"]) for p in nyc_payloads]
    fallback_only = [p for p in nyc_payloads if all(i["fallback"] for i in p["images"])]
    assert 0 < len(fallback_only) < 0.15 * n
    assert all(
        4 <= c <= 10 for p, c in zip(nyc_payloads, counts, strict=True) if p not in fallback_only
    )


def test_venues_carry_string_coordinates_and_their_quirks(nyc_payloads) -> None:
    """Coordinates are strings; a venue lacks location; some city names start with a space."""
    venues = {}
    for p in nyc_payloads:
        venue = p["_embedded"]["venues"][0]
        venues[venue["id"]] = venue
        assert venue["timezone"] == "America/New_York"
    located = [v for v in venues.values() if "location" in v]
    assert all(isinstance(v["location"]["latitude"], str) for v in located)
    assert all(isinstance(v["location"]["longitude"], str) for v in located)
    assert 1 <= len(venues) - len(located) <= 0.05 * len(venues)
    assert any(v["city"]["name"].startswith(" ") for v in venues.values())
    assert all(re.fullmatch(r"[A-Za-z0-9]{10,12}", i) for i in venues)


def test_classifications_have_segments_and_undefined_placeholders(nyc_payloads) -> None:
    """Each event has a primary classification; "Undefined" placeholders occur."""
    segments = Counter()
    undefined_sub = 0
    for p in nyc_payloads:
        (c,) = p["classifications"]
        assert c["primary"] is True
        segments[c["segment"]["name"]] += 1
        undefined_sub += c["subGenre"]["name"] == "Undefined"
        assert c["type"]["name"] == "Undefined"
    assert {"Music", "Sports", "Arts & Theatre", "Film", "Miscellaneous"} <= set(segments)
    assert undefined_sub > 0
    music = next(p for p in nyc_payloads if p["classifications"][0]["segment"]["name"] == "Music")
    assert music["_embedded"]["attractions"]


def test_start_fields_agree_with_each_other(nyc_payloads) -> None:
    """dateTime is the UTC instant of localDate+localTime in the event's zone."""
    from zoneinfo import ZoneInfo

    for p in nyc_payloads:
        start = p["dates"]["start"]
        if "dateTime" not in start:
            continue
        local = dt.datetime.fromisoformat(f"{start['localDate']}T{start['localTime']}")
        zone = ZoneInfo(p["_embedded"]["venues"][0]["timezone"])
        instant = local.replace(tzinfo=zone).astimezone(dt.UTC)
        assert instant.strftime("%Y-%m-%dT%H:%M:%SZ") == start["dateTime"]
