"""The sandbox's world: real venues and deterministic, realistic events for one city.

The world is provider-neutral. Each provider module (``ticketmaster.py``, later the
others) renders these events into its own documented payload shape, adding that
provider's quirks, so that every emulated API describes the same real-world events.

Determinism: ``build_world(city, anchor=..., days=..., events=..., seed=...)`` is a pure
function of its arguments. Events are generated per (venue, local date) from hashes of
the seed, the venue and the date, so a world anchored one day later holds (almost) the
same events for the days both windows cover, with the same keys: a re-crawl tomorrow
updates yesterday's records instead of finding new ones.

Venues are real (``data/venues.json``): names, street addresses, postal codes and
coordinates. Teams, leagues, composers, operas, ballets and classic films are real;
acts, comedians, plays and exhibitions are invented (``data/catalog.json``).

A large count grows the city, not the venues' programmes. The real venues naturally hold
``days * sum(rate)`` events (nyc: about 2,650 in 30 days). Up to three times that, they
simply get busier; past it, the world adds invented venues until the events per venue
stay at three times their natural rate (1M events in nyc: ~6,500 venues, ~5 events per
venue and day, instead of ~530). Three times is a busy month, not an impossible one (a
club with two shows a night, a cinema with three screens); every preset's default count
lies between 0.9 and 1.3 times it, so default worlds never grow. Invented venues are a
pure function of the city (not of the seed), and a larger count only appends to them:
keys ``{city}/x-1``, ``x-2``, ...; kinds, capacities and rates drawn from the city's
ordinary venues (no teams, residencies or seasons); distinct two-word names that no real
venue and no invented act uses ("Juniper Heron Jazz Club"), never two that differ only by
a number or a room; invented street addresses in the country's style, with the nearest
real venue's postal code and locality; coordinates spread uniformly within 80% of the
city's radius, at least 250 m from each other and from the real venues (the
de-duplicator takes venues within 150 m for one place). A grown world also has a larger
pool of touring acts, as each act plays one venue a day.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import random
from collections.abc import Iterator
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ..model import City

UTC = dt.UTC

__all__ = [
    "Performer",
    "Residency",
    "SandboxEvent",
    "Team",
    "Venue",
    "World",
    "anchor_for",
    "build_world",
    "default_event_count",
    "distance_km",
]


# ---------------------------------------------------------------------------
# Model


@attrs.frozen
class Team:
    """A real club playing its home games at a venue."""

    name: str
    league: str


@attrs.frozen
class Residency:
    """A long-running show that owns a venue's programme (in ``months``, if given)."""

    title: str
    category: str
    genre: str
    subgenre: str | None
    family: bool = False
    months: tuple[int, ...] = ()
    # (weekday times, weekend times); None means the Broadway week (dark Mondays).
    times: tuple[tuple[str, ...], tuple[str, ...]] | None = None


@attrs.frozen
class Venue:
    """A real venue, or an invented one of a grown world (module doc).

    ``key`` is stable across seeds, anchors and ad-hoc areas.
    """

    key: str
    name: str
    kind: str
    address: str
    locality: str
    region: str | None
    region_code: str | None
    postal_code: str
    country: str
    country_code: str
    lat: float
    lon: float
    timezone: str
    capacity: int
    rate: float
    teams: tuple[Team, ...] = ()
    resident: str | None = None
    repertoire: str | None = None
    residency: Residency | None = None
    months: tuple[int, ...] = ()


@attrs.frozen
class Performer:
    """An act, comedian, company or team appearing at an event."""

    name: str
    kind: str  # "artist" | "comedian" | "company" | "team"
    genre: str | None = None


@attrs.frozen
class SandboxEvent:
    """One real-world event as the sandbox knows it, before any provider's rendering.

    ``start`` is timezone-aware in the venue's zone; for ``date_only`` (no specific
    time) and ``time_tba`` events it is local midnight of the known date. ``undated``
    events (``"tba"``/``"tbd"``) have no start at all. ``key`` is stable and unique;
    providers derive their ids from it.
    """

    key: str
    title: str
    category: str
    genre: str
    subgenre: str | None
    venue: Venue
    start: dt.datetime | None
    end: dt.datetime | None = None
    date_only: bool = False
    time_tba: bool = False
    undated: str | None = None  # None | "tba" | "tbd"
    status: str = "scheduled"  # scheduled | cancelled | postponed | rescheduled
    initial_start: dt.datetime | None = None  # the original date of a rescheduled event
    price_min: float | None = None
    price_max: float | None = None
    currency: str = "USD"
    performers: tuple[Performer, ...] = ()
    family: bool = False
    description: str | None = None
    popularity: float = 0.5
    onsale_at: dt.datetime | None = None  # UTC

    @property
    def instant(self) -> dt.datetime | None:
        """The start as a UTC instant (local midnight for date-only events)."""
        return None if self.start is None else self.start.astimezone(UTC)


@attrs.frozen
class World:
    """Everything the sandbox serves for one city: venues and events.

    ``venues`` are the city's real venues, then any invented ones (module doc).
    ``events`` holds the dated events in start order (ties by key), then the undated ones.
    Every dated event starts in ``[anchor, anchor + days)``.
    """

    city: City
    anchor: dt.datetime
    days: int
    seed: int
    venues: tuple[Venue, ...]
    events: tuple[SandboxEvent, ...] = attrs.field(repr=False)

    @property
    def end(self) -> dt.datetime:
        return self.anchor + dt.timedelta(days=self.days)


# ---------------------------------------------------------------------------
# Public functions


def anchor_for(now: dt.datetime | None = None) -> dt.datetime:
    """Today's 00:00 UTC (of ``now``, default the wall clock): where the world starts."""
    now = dt.datetime.now(UTC) if now is None else now.astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def default_event_count(city: City, days: int = 30) -> int:
    """How many events the world holds for ``city`` over ``days`` when not told.

    Presets have a 30-day figure (nyc: 2,500) scaled by ``days``; an ad-hoc area gets its
    venues' natural rate.
    """
    spec = _catalog("venues.json")["cities"].get(city.slug)
    if spec is not None:
        return round(spec["events_per_30_days"] * days / 30)
    return max(1, round(sum(v.rate for v in venues_for(city)) * days))


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, h)))


def venues_for(city: City) -> tuple[Venue, ...]:
    """The venues of a preset, or every preset venue inside an ad-hoc area.

    An area with no known venue gets a handful of invented ones around its centre, so
    that every city produces events.
    """
    return _venues_for(city)


def build_world(
    city: City,
    *,
    anchor: dt.datetime | None = None,
    days: int = 30,
    events: int | None = None,
    seed: int = 0,
) -> World:
    """Generate the world for ``city``: ``events`` events (default: the city's figure).

    About 1% of them are undated (postponed "TBA" or "TBD"); the rest start in
    ``[anchor, anchor + days)``. The count is exact unless the window is too small to
    hold that many (a 1-day window of a small city), then it is everything generated.
    Past three times what the city's venues naturally hold, the world gets invented
    venues (module doc).

    Pure and deterministic; CPU-bound for large counts (run it off the Trio thread).
    Raises ValueError for ``days < 1`` or ``events < 0``.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if events is not None and events < 0:
        raise ValueError(f"events must not be negative, got {events}")
    anchor = anchor_for(anchor)
    total = default_event_count(city, days) if events is None else events
    undated_n = total // 100
    dated_n = total - undated_n
    base = _venues_for(city)
    venues = _extend(city, base, days, dated_n)
    grown = venues is not base
    end = anchor + dt.timedelta(days=days)
    # A bigger city hosts more touring acts (each plays one venue a day).
    growth = sum(v.rate for v in venues) / (sum(v.rate for v in base) or 1.0)
    acts = min(_MAX_ACTS, math.ceil(_ACTS * growth)) if grown else _ACTS
    gen = _Generator(seed, city, anchor, end, acts=acts)

    natural = days * sum(v.rate for v in venues) or 1.0
    factor = 1.08
    if grown and days > 2 * _PILOT_DAYS:
        # Even so, a grown world loses up to a quarter of its raw candidates to "an act
        # plays one venue a day". A pilot over the first week measures the loss, so that
        # one full pass (not a short one and a second) is enough: a third less time.
        pilot = _Generator(seed, city, anchor, anchor + dt.timedelta(days=_PILOT_DAYS), acts=acts)
        kept = len(pilot.candidates(venues, scale=factor * dated_n / natural))
        if kept < (want := dated_n * _PILOT_DAYS / days):
            factor *= 1.04 * want / max(1, kept)
    while True:
        candidates = gen.candidates(venues, scale=factor * dated_n / natural)
        if len(candidates) >= dated_n or factor > 256 or dated_n == 0:
            break
        factor *= max(1.25, 1.1 * dated_n / max(1, len(candidates)))
    # Keep the dated_n candidates with the lowest keep-rank (a hash of the event alone),
    # so the survivors barely change when the window moves by a day.
    dated = sorted((e for _, e in candidates[:dated_n]), key=lambda e: (e.instant, e.key))
    undated = gen.undated(venues, undated_n)
    return World(
        city=city, anchor=anchor, days=days, seed=seed, venues=venues, events=tuple(dated + undated)
    )


# ---------------------------------------------------------------------------
# Data files and hashing


@functools.cache
def _catalog(name: str) -> dict[str, Any]:
    """One of the JSON files in ``data/`` (read once per process)."""
    text = resources.files(__package__).joinpath("data").joinpath(name).read_text("utf-8")
    return json.loads(text)


def _h(*parts: object) -> int:
    """A stable 64-bit hash of ``parts`` (unlike ``hash()``, equal across processes)."""
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _u(*parts: object) -> float:
    """A stable uniform number in [0, 1) from ``parts``."""
    return _h(*parts) / 2.0**64


def _rng(*parts: object) -> random.Random:
    return random.Random(_h(*parts))


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(filter(None, out.split("-")))


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _time(text: str) -> dt.time:
    hour, minute = text.split(":")
    return dt.time(int(hour), int(minute))


def _later(text: str, minutes: int) -> str:
    """``HH:MM`` moved ``minutes`` later, or earlier if that would pass 23:45."""
    hour, minute = map(int, text.split(":"))
    total = hour * 60 + minute + minutes
    if total > 23 * 60 + 45:
        total = hour * 60 + minute - minutes
    return f"{total // 60:02d}:{total % 60:02d}"


# ---------------------------------------------------------------------------
# Venues


def _venue_from_json(city_slug: str, spec: dict[str, Any], raw: dict[str, Any]) -> Venue:
    residency = None
    if (res := raw.get("residency")) is not None:
        times = res.get("times")
        residency = Residency(
            title=res["title"],
            category=res["category"],
            genre=res["genre"],
            subgenre=res.get("subgenre"),
            family=res.get("family", False),
            months=tuple(res.get("months", ())),
            times=None if times is None else (tuple(times[0]), tuple(times[1])),
        )
    state = raw.get("state") or (None, None)
    return Venue(
        key=f"{city_slug}/{_slug(raw['name'])}",
        name=raw["name"],
        kind=raw["kind"],
        address=raw["address"],
        locality=raw["locality"],
        region=state[0],
        region_code=state[1],
        postal_code=raw["postal"],
        country=spec["country"][0],
        country_code=spec["country"][1],
        lat=raw["lat"],
        lon=raw["lon"],
        timezone=raw.get("timezone", spec["timezone"]),
        capacity=raw["capacity"],
        rate=raw["rate"],
        teams=tuple(Team(name, league) for name, league in raw.get("teams", ())),
        resident=raw.get("resident"),
        repertoire=raw.get("repertoire"),
        residency=residency,
        months=tuple(raw.get("months", ())),
    )


@functools.cache
def _preset_venues() -> dict[str, tuple[Venue, ...]]:
    cities = _catalog("venues.json")["cities"]
    return {
        slug: tuple(_venue_from_json(slug, spec, raw) for raw in spec["venues"])
        for slug, spec in cities.items()
    }


_SYNTHETIC = (
    ("Harbor Street Arena", "arena", 12000, 0.4),
    ("The Lantern Room", "club", 400, 1.0),
    ("Old Mill Theatre", "theatre", 1500, 0.7),
    ("Blue Door Jazz Bar", "jazz_club", 90, 1.5),
    ("Laugh Track Comedy Club", "comedy_club", 150, 2.0),
    ("Civic Concert Hall", "concert_hall", 1800, 0.8),
    ("Riverside Cinema", "cinema", 250, 2.0),
    ("City Museum of Art", "museum", 1000, 0.8),
)


@functools.cache
def _venues_for(city: City) -> tuple[Venue, ...]:
    presets = _preset_venues()
    if city.slug in presets:
        return presets[city.slug]
    area = city.area
    inside = tuple(
        v
        for venues in presets.values()
        for v in venues
        if distance_km(area.lat, area.lon, v.lat, v.lon) <= area.radius_km
    )
    if inside:
        return inside
    # Invented venues on a ring at half the radius: nothing real is known here.
    out = []
    for i, (name, kind, capacity, rate) in enumerate(_SYNTHETIC):
        bearing = 2 * math.pi * i / len(_SYNTHETIC)
        d = area.radius_km * 0.5
        lat = area.lat + (d / 111.2) * math.cos(bearing)
        lon = area.lon + (d / (111.2 * max(0.05, math.cos(math.radians(area.lat))))) * math.sin(
            bearing
        )
        out.append(
            Venue(
                key=f"{city.slug}/{_slug(name)}",
                name=name,
                kind=kind,
                address=f"{100 + 10 * i} Main Street",
                locality=city.name,
                region=None,
                region_code=None,
                postal_code="",
                country=city.country,
                country_code=city.country,
                lat=round(lat, 4),
                lon=round(lon, 4),
                timezone=city.timezone,
                capacity=capacity,
                rate=rate,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------
# Invented venues: a bigger city than the presets know

#: Past this multiple of its venues' natural rate a world gets invented venues (module doc).
_CROWDED = 3.0
#: Invented venues lie within this share of the city's radius...
_SPREAD = 0.8
#: ...at least this far from each other and from the real venues (the de-duplicator takes
#: two venues within 150 m for one place); the spacing shrinks only when the disc is full.
_SPACING_KM = 0.25


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Two of these words make an invented venue's distinctive name ("Juniper Heron"); none is
# a word the de-duplicator reads as a room, a kind of venue or a common venue word, and
# none appears in a real venue's name or an invented act's name (those two are checked).
_NAME_FIRST = _words(
    """
    Alder Aspen Birch Cedar Cypress Hazel Hawthorn Juniper Larch Linden Magnolia Maple
    Rowan Sycamore Willow Chestnut Hemlock Poplar Spruce Tamarack Hickory Walnut Almond
    Pecan Acorn Bramble Clover Fern Heather Laurel Lilac Marigold Myrtle Primrose Saffron
    Sorrel Thistle Violet Yarrow Fennel Rosemary Basil Anise Clove Nutmeg Cardamom Ginger
    Cinnamon Pepper Quince Plum Fig Olive Apricot Cherry Mulberry Persimmon Tangerine Lemon
    Damson Agate Basalt Cobalt Flint Garnet Granite Jasper Marble Onyx Opal Quartz Slate
    Bronze Brass Pewter Tin Nickel Ochre Umber Sienna Russet Ivory Pearl Coral Jade Ruby
    Topaz Beryl Cinder Dusk Frost Thunder Tempest Drift Morrow Tartan Tweed Calico Gingham
    Linen Satin Denim Wicker Cork Rattan Chalk Clay Mica Loam Driftwood Bluebell Foxglove
    Snowdrop Sunflower Larkspur Lavender Jasmine Hyacinth Peony Tulip Crocus Aster Dahlia
    Zinnia Verbena Camellia Wisteria
"""
)
_NAME_SECOND = _words(
    """
    Finch Heron Kestrel Wren Starling Magpie Raven Falcon Osprey Plover Lark Swallow Curlew
    Egret Pelican Puffin Owl Otter Badger Beaver Hare Marten Stag Elk Bison Lynx Salmon
    Trout Oyster Crane Gull Thrush Bunting Warbler Creek Brook Fen Marsh Bluff Ridge Knoll
    Glen Dell Moor Heath Grove Thicket Meadow Prairie Bayou Delta Cove Inlet Ferry Wharf
    Quay Pier Jetty Landing Crossing Junction Depot Foundry Forge Mill Kiln Quarry Works
    Exchange Assembly Mews Bridge Tower Lighthouse Beacon Anchor Compass Sextant Spindle
    Loom Bellows Anvil Kettle Clock Bell Barrel Thimble Teacup Ladle Saddle Wagon Carriage
    Trolley Caboose Canoe Rudder Tiller Keel Mast Paddle Drum Fiddle Banjo Bugle Cornet
"""
)

# What follows the distinctive words, per kind ("" = the words alone, like "Elsewhere").
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "arena": ("Arena", "Center", "Coliseum"),
    "stadium": ("Stadium", "Field"),
    "amphitheater": ("Amphitheater", "Bowl"),
    "theatre": ("Theater", "Theatre", "Music Hall", "Auditorium"),
    "broadway": ("Theatre",),
    "playhouse": ("Playhouse", "Repertory Theater"),
    "club": ("Ballroom", "Music Hall", "Lounge", "Room", "Social Club", "Hall", ""),
    "dance_club": ("", "Club", "Nightclub"),
    "jazz_club": ("Jazz Club", "Supper Club", "Jazz Room", "Jazz Bar"),
    "comedy_club": ("Comedy Club", "Comedy House", "Comedy Room"),
    "concert_hall": ("Concert Hall", "Music Hall", "Recital Hall"),
    "opera_house": ("Opera House", "Opera"),
    "cinema": ("Cinema", "Cinemas", "Picture House", "Film Center"),
    "museum": ("Museum", "Art Museum", "Collection"),
    "science_museum": ("Science Center", "Discovery Center"),
    "family_attraction": ("Zoo", "Aquarium", "Wildlife Park"),
}
_BRITISH = {"Center": "Centre", "Theater": "Theatre", "Amphitheater": "Amphitheatre"}

# Invented streets, by the address style of the venue's country.
_STREET_TYPES = ("St", "Ave", "Blvd", "Rd", "Pl", "Street", "Avenue")
_GB_STREET_TYPES = ("Street", "Road", "Lane", "Place", "Row", "Yard", "Walk")
_DE_STREETS = _words(
    """
    Linden Birken Eichen Ahorn Kastanien Tannen Erlen Buchen Weiden Holunder Mühlen
    Brunnen Rosen Flieder Garten Wiesen Feld Heide Quellen Fischer Weber Schmiede Glocken
    Sonnen Stern Falken Kranich Reiher Lerchen Schwalben Drossel Fasanen Hasel
"""
)
_DE_STREET_TYPES = ("straße", "weg", "allee", "ufer", "damm")
_FR_STREETS = _words(
    """
    Tilleuls Lilas Peupliers Acacias Marronniers Moulins Vignes Saules Chênes Ormes
    Cerisiers Pommiers Platanes Glycines Hirondelles Mésanges Alouettes Tanneurs Tisserands
    Forgerons Verriers Potiers Lavandières Coteaux Sources Prés Jardiniers Vergers
"""
)
_FR_STREET_TYPES = ("Rue des", "Avenue des", "Boulevard des", "Passage des", "Villa des")


def _extend(city: City, venues: tuple[Venue, ...], days: int, dated_n: int) -> tuple[Venue, ...]:
    """``venues``, plus invented ones when ``dated_n`` would crowd them (module doc)."""
    rate = sum(v.rate for v in venues)
    if dated_n <= _CROWDED * days * rate:
        return venues
    return venues + _invented_venues(city, venues, dated_n / (_CROWDED * days) - rate)


def _invented_venues(city: City, base: tuple[Venue, ...], rate: float) -> tuple[Venue, ...]:
    """Invented venues whose rates add up to at least ``rate``, spread over ``city``.

    Kinds, capacities and rates follow ``base``'s ordinary venues (no teams, residencies
    or seasons); street addresses are invented; postal code, locality, region and country
    are the nearest base venue's. Pure, independent of the seed, and prefix-stable: a
    larger ``rate`` only appends venues, so x-1 is the same venue in every large world.
    """
    templates = [
        (v.kind, v.capacity, v.rate)
        for v in base
        if not (v.teams or v.residency or v.months) and v.kind not in ("broadway", "stadium")
    ] or [(kind, capacity, r) for _, kind, capacity, r in _SYNTHETIC]
    cores = _name_cores(city.slug)
    taken = {v.name.casefold() for v in base} | _real_names()
    places = _spread(city, base)
    rng = _rng("invented-venues", city.slug)
    addresses: set[str] = {v.address for v in base}
    out: list[Venue] = []
    total = 0.0
    for core in cores:
        if total >= rate:
            break
        kind, capacity, venue_rate = rng.choice(templates)
        lat, lon = next(places)
        near = min(base, key=lambda v: (v.lat - lat) ** 2 + (v.lon - lon) ** 2) if base else None
        country_code = near.country_code if near else city.country
        word = rng.choice(_KIND_WORDS.get(kind, ("Hall",)))
        if country_code != "US":
            word = " ".join(_BRITISH.get(w, w) for w in word.split())
        name = f"{core} {word}".strip()
        if word in ("Room", "Lounge", "Ballroom") and rng.random() < 0.4:
            name = f"The {name}"
        if name.casefold() in taken:
            continue
        taken.add(name.casefold())
        address = _street_address(rng, country_code)
        while address in addresses:
            address = _street_address(rng, country_code)
        addresses.add(address)
        total += venue_rate
        out.append(
            Venue(
                key=f"{city.slug}/x-{len(out) + 1}",
                name=name,
                kind=kind,
                address=address,
                locality=near.locality if near else city.name,
                region=near.region if near else None,
                region_code=near.region_code if near else None,
                postal_code=near.postal_code if near else "",
                country=near.country if near else city.country,
                country_code=country_code,
                lat=lat,
                lon=lon,
                timezone=city.timezone,
                capacity=_round_capacity(capacity * rng.uniform(0.5, 1.5)),
                rate=venue_rate,
            )
        )
    return tuple(out)


@functools.cache
def _real_names() -> frozenset[str]:
    """Every real (and fixed invented) venue name, case-folded."""
    names = {v.name for venues in _preset_venues().values() for v in venues}
    return frozenset(n.casefold() for n in names | {s[0] for s in _SYNTHETIC})


@functools.cache
def _name_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The two word lists, without words of real venue names or invented acts."""
    cat = _catalog("catalog.json")
    used = {
        w.casefold().removesuffix("s")
        for text in (
            *_real_names(),
            *cat["adjectives"],
            *cat["plurals"],
            *cat["singulars"],
            *cat["stage_names"],
        )
        for w in text.replace("-", " ").split()
    }

    def unused(words: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(w for w in words if w.casefold().removesuffix("s") not in used)

    return unused(_NAME_FIRST), unused(_NAME_SECOND)


def _name_cores(slug: str) -> Iterator[str]:
    """Distinct two-word cores ("Juniper Heron") in a stable per-city order, then three-word.

    First-list × second-list pairs come first, then pairs within each list; no two cores
    have the same set of words, so no two invented names differ only by their kind word.
    """
    first, second = _name_words()
    rng = _rng("venue-names", slug)
    for group in (
        [(a, b) for a in first for b in second],
        list(itertools.combinations(first, 2)),
        list(itertools.combinations(second, 2)),
    ):
        rng.shuffle(group)
        yield from (" ".join(words) for words in group)
    words = [*first, *second]
    rng.shuffle(words)
    yield from (" ".join(words) for words in itertools.combinations(words, 3))


def _spread(city: City, base: tuple[Venue, ...]) -> Iterator[tuple[float, float]]:
    """Endless (lat, lon) points, uniform within ``_SPREAD`` of the city's radius, spaced.

    Each point is at least the spacing from every earlier point and every base venue; after
    many misses in a row (the disc is full at this spacing) the spacing shrinks by a fifth.
    """
    area = city.area
    ky = 6371.0088 * math.pi / 180  # km per degree of latitude, as distance_km measures
    kx = ky * max(0.05, math.cos(math.radians(area.lat)))  # ...and of longitude
    rng = _rng("venue-spread", city.slug)
    spacing = _SPACING_KM
    points = [((v.lon - area.lon) * kx, (v.lat - area.lat) * ky) for v in base]
    grid: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def cell(x: float, y: float) -> tuple[int, int]:
        return math.floor(x / spacing), math.floor(y / spacing)

    def index() -> None:
        grid.clear()
        for x, y in points:
            grid.setdefault(cell(x, y), []).append((x, y))

    index()
    misses = 0
    while True:
        r = _SPREAD * area.radius_km * math.sqrt(rng.random())
        t = 2 * math.pi * rng.random()
        x, y = r * math.cos(t), r * math.sin(t)
        cx, cy = cell(x, y)
        if any(
            (x - px) ** 2 + (y - py) ** 2 < spacing**2
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
            for px, py in grid.get((cx + i, cy + j), ())
        ):
            misses += 1
            if misses >= 200:
                spacing *= 0.8
                misses = 0
                index()
            continue
        misses = 0
        points.append((x, y))
        grid.setdefault((cx, cy), []).append((x, y))
        yield round(area.lat + y / ky, 5), round(area.lon + x / kx, 5)


def _street_address(rng: random.Random, country_code: str) -> str:
    """An invented street address in the style of ``country_code``."""
    if country_code == "DE":
        return f"{rng.choice(_DE_STREETS)}{rng.choice(_DE_STREET_TYPES)} {rng.randint(1, 160)}"
    if country_code == "FR":
        street = f"{rng.choice(_FR_STREET_TYPES)} {rng.choice(_FR_STREETS)}"
        return f"{rng.randint(1, 180)} {street}"
    word = rng.choice(_NAME_FIRST)
    if country_code == "GB":
        return f"{rng.randint(1, 320)} {word} {rng.choice(_GB_STREET_TYPES)}"
    return f"{rng.randint(1, 2999)} {word} {rng.choice(_STREET_TYPES)}"


def _round_capacity(capacity: float) -> int:
    """A capacity as a venue states it: to 5 below 200, to 10 below 2,000, else to 100."""
    step = 5 if capacity < 200 else 10 if capacity < 2000 else 100
    return max(40, step * round(capacity / step))


# ---------------------------------------------------------------------------
# Programmes: when venues of each kind hold events, and what those events are

# (weights Monday..Sunday, weekday slot times, weekend slot times)
_KINDS: dict[str, tuple[tuple[float, ...], tuple[str, ...], tuple[str, ...]]] = {
    "arena": ((0.6, 0.7, 0.9, 1.0, 1.3, 1.4, 1.1), ("19:30", "20:00"), ("19:30", "14:00", "19:00")),
    "stadium": ((1, 1, 1, 1, 1, 1, 1), ("19:00",), ("19:00", "18:00")),
    "amphitheater": ((0.5, 0.6, 0.8, 1, 1.3, 1.5, 1.3), ("19:30",), ("19:00", "18:00")),
    "theatre": ((0.5, 0.6, 0.8, 1, 1.4, 1.5, 1.2), ("20:00", "19:30"), ("20:00", "14:00", "19:00")),
    "broadway": ((0, 1, 2, 1, 1, 2, 1), (), ()),
    "playhouse": ((0, 1, 1, 1, 1, 1.6, 1.2), ("19:30",), ("14:00", "19:30")),
    "club": (
        (0.6, 0.8, 0.9, 1, 1.2, 1.3, 0.9),
        ("20:00", "19:00", "21:00"),
        ("20:00", "19:00", "21:00", "23:00"),
    ),
    "dance_club": (
        (0.2, 0.2, 0.5, 1.0, 1.6, 1.8, 0.9),
        ("22:00", "23:00"),
        ("23:00", "22:00", "15:00"),
    ),
    "jazz_club": (
        (1, 1, 1, 1, 1.1, 1.1, 1),
        ("19:30", "21:30"),
        ("19:30", "21:30", "12:00", "23:30"),
    ),
    "comedy_club": (
        (0.8, 0.9, 1, 1, 1.2, 1.3, 1),
        ("19:00", "21:00", "22:30"),
        ("19:00", "21:00", "22:30", "23:45", "17:00"),
    ),
    "concert_hall": (
        (0.5, 0.9, 1, 1, 1.2, 1.2, 0.9),
        ("19:30", "20:00"),
        ("20:00", "14:00", "15:00"),
    ),
    "opera_house": ((0.9, 1, 1, 1, 1, 1.3, 0.6), ("19:30",), ("19:30", "13:00", "20:00")),
    "cinema": (
        (0.8, 0.8, 0.9, 1, 1.2, 1.3, 1.2),
        ("18:00", "19:15", "20:30", "21:45", "13:00", "15:30"),
        ("13:00", "15:30", "18:00", "19:15", "20:30", "21:45", "11:00"),
    ),
    "museum": (
        (0.7, 0.8, 0.9, 1, 1.2, 1.2, 1),
        ("11:00", "14:00", "18:30"),
        ("11:00", "14:00", "12:00", "15:30"),
    ),
    "science_museum": (
        (0.7, 0.8, 0.9, 1, 1.2, 1.2, 1),
        ("11:00", "14:00", "18:30"),
        ("10:30", "11:00", "13:00", "14:00", "15:30"),
    ),
    "family_attraction": (
        (0.6, 0.6, 0.6, 0.7, 0.9, 1.6, 1.6),
        ("10:00", "11:00", "13:00"),
        ("10:00", "11:00", "13:00", "15:00"),
    ),
}
_BROADWAY_WEEK = {
    1: ("19:00",),
    2: ("14:00", "19:00"),
    3: ("19:00",),
    4: ("20:00",),
    5: ("14:00", "20:00"),
    6: ("15:00",),
}

# Price bands (min, max) in the local currency.
_PRICES = {
    "arena": (45, 250),
    "stadium": (35, 400),
    "amphitheater": (35, 150),
    "theatre": (35, 150),
    "broadway": (79, 349),
    "playhouse": (45, 125),
    "club": (20, 55),
    "dance_club": (15, 45),
    "jazz_club": (30, 65),
    "comedy_club": (20, 45),
    "concert_hall": (30, 160),
    "opera_house": (35, 300),
    "cinema": (12, 20),
    "museum": (0, 30),
    "science_museum": (0, 35),
    "family_attraction": (0, 40),
}
_SPORT_PRICES = {
    "NBA": (40, 1200),
    "WNBA": (20, 250),
    "NHL": (45, 650),
    "MLB": (20, 350),
    "NFL": (95, 900),
    "MLS": (30, 150),
    "EPL": (45, 120),
    "Bundesliga": (25, 90),
    "2. Bundesliga": (15, 60),
    "Ligue 1": (30, 150),
    "DEL": (25, 90),
}
_TOURING = frozenset({"music", "nightlife"})
_ACTS = 40  # invented acts per music genre in a preset-sized world
_PILOT_DAYS = 7  # a grown world's pilot window (build_world)
_MAX_ACTS = 2000  # ...and at most in a grown one (fewer where a genre's names run out)
_CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "CA": "CAD"}


@functools.cache
def _normalised_weights(kind: str) -> tuple[float, ...]:
    weights = _KINDS[kind][0]
    mean = sum(weights) / 7
    return tuple(w / mean for w in weights)


@attrs.frozen
class _Programme:
    """What one slot at a venue holds, before scheduling details."""

    title: str
    category: str
    genre: str
    subgenre: str | None = None
    performers: tuple[Performer, ...] = ()
    family: bool = False
    date_only: bool = False
    span_days: int = 0  # > 0: a multi-day event ending that many days later
    price: tuple[float, float] | None = None  # overrides the venue kind's band


class _Generator:
    """Builds the events of one world; every choice is a hash of the seed and its place."""

    def __init__(
        self, seed: int, city: City, anchor: dt.datetime, end: dt.datetime, *, acts: int = _ACTS
    ) -> None:
        self.seed = seed
        self.city = city
        self.anchor = anchor
        self.end = end
        self.cat = _catalog("catalog.json")
        self.acts = _acts(seed, acts)

    # -- candidates -------------------------------------------------------

    def candidates(
        self, venues: tuple[Venue, ...], *, scale: float
    ) -> list[tuple[float, SandboxEvent]]:
        """Every event the venues hold in the window at this scale, with its keep-rank.

        Sorted by keep-rank; one title per venue and start (a real listing is not doubled),
        and an act plays one venue a day.
        """
        out: list[tuple[float, SandboxEvent]] = []
        for venue in venues:
            zone = ZoneInfo(venue.timezone)
            first = self.anchor.astimezone(zone).date()
            last = (self.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
            day = first
            while day <= last:
                out.extend(self._venue_day(venue, zone, day, scale))
                day += dt.timedelta(days=1)
        out.sort(key=lambda c: c[0])
        seen: set[tuple[str, ...]] = set()
        unique = []
        for rank, event in out:
            start = event.start.isoformat() if event.start else ""
            listings: list[tuple[str, ...]] = [(event.venue.key, event.title, start)]
            head = event.performers[0] if event.performers else None
            if head is not None and head.kind == "artist" and event.category in _TOURING:
                listings.append((head.name, start[:10]))
            if seen.isdisjoint(listings):
                seen.update(listings)
                unique.append((rank, event))
        return unique

    def _venue_day(
        self, venue: Venue, zone: ZoneInfo, day: dt.date, scale: float
    ) -> list[tuple[float, SandboxEvent]]:
        if venue.months and day.month not in venue.months:
            return []
        fixture = self._fixture(venue, zone, day)
        if fixture is not None:
            # A game night: the building holds nothing else.
            start = fixture[1].start
            return [fixture] if start is not None and self.anchor <= start < self.end else []
        rng = _rng(self.seed, venue.key, day.isoformat())
        weekend = day.weekday() >= 5
        residency = venue.residency
        if residency is not None and residency.months and day.month not in residency.months:
            residency = None
        times: tuple[str, ...]
        if residency is not None:
            if residency.times is None:
                times = _BROADWAY_WEEK.get(day.weekday(), ())
            else:
                times = residency.times[1 if weekend else 0]
            expected = len(times) * min(1.0, scale)  # a show has one performance per slot
        else:
            if venue.kind == "broadway":  # a Broadway house between shows is dark
                return []
            _, weekday_times, weekend_times = _KINDS[venue.kind]
            times = weekend_times if weekend else weekday_times
            expected = venue.rate * _normalised_weights(venue.kind)[day.weekday()] * scale
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        if count == 0:
            return []
        if count <= len(times):
            chosen = (
                sorted(rng.sample(list(times), count)) if residency is None else list(times[:count])
            )
        else:
            # More events than slots: other rooms or screens start a little later.
            extra = [
                _later(rng.choice(times), 15 * rng.randint(1, 6)) for _ in range(count - len(times))
            ]
            chosen = sorted([*times, *extra])
        out = []
        for slot, hhmm in enumerate(chosen):
            key = f"{self.seed}:{venue.key}:{day.isoformat()}:{slot}"
            erng = _rng(key)
            at = _time(hhmm)
            prog = (
                self._residency_programme(residency)
                if residency
                else self._programme(venue, day, at, erng)
            )
            event = self._event(key, erng, venue, zone, day, at, prog)
            if event.start is not None and self.anchor <= event.start < self.end:
                out.append((_u("keep", key), event))
        return out

    def _event(
        self,
        key: str,
        rng: random.Random,
        venue: Venue,
        zone: ZoneInfo,
        day: dt.date,
        at: dt.time,
        prog: _Programme,
        *,
        boost: float = 0.0,
    ) -> SandboxEvent:
        date_only = prog.date_only
        # A few concerts know their date but not yet their time.
        time_tba = (
            prog.category == "music"
            and not date_only
            and venue.kind in ("club", "arena", "theatre", "amphitheater")
            and rng.random() < 0.03
        )
        start = dt.datetime.combine(day, dt.time(0) if (date_only or time_tba) else at, tzinfo=zone)
        end = None
        if prog.span_days:
            end_day = day + dt.timedelta(days=prog.span_days)
            end = dt.datetime.combine(
                end_day, dt.time(0) if date_only else dt.time(23, 0), tzinfo=zone
            )
        status, initial = "scheduled", None
        u = rng.random()
        if u < 0.02:
            status = "cancelled"
        elif u < 0.03:
            status = "postponed"
        elif u < 0.045:
            status = "rescheduled"
            initial = start - dt.timedelta(days=rng.randrange(7, 60))
        price_min, price_max = self._price(rng, venue, prog)
        onsale = (start - dt.timedelta(days=rng.randrange(14, 120))).replace(hour=10, minute=0)
        popularity = min(1.0, 0.25 + math.log10(max(10, venue.capacity)) / 6) * (
            0.55 + 0.45 * rng.random()
        )
        return SandboxEvent(
            key=key,
            title=prog.title,
            category=prog.category,
            genre=prog.genre,
            subgenre=prog.subgenre,
            venue=venue,
            start=start,
            end=end,
            date_only=date_only,
            time_tba=time_tba,
            status=status,
            initial_start=initial,
            price_min=price_min,
            price_max=price_max,
            currency=_CURRENCY.get(venue.country_code, "USD"),
            performers=prog.performers,
            family=prog.family,
            description=self._description(rng, prog, venue),
            popularity=round(min(1.0, popularity + boost), 4),
            onsale_at=onsale.astimezone(UTC),
        )

    @staticmethod
    def _price(
        rng: random.Random, venue: Venue, prog: _Programme
    ) -> tuple[float | None, float | None]:
        low, high = prog.price or _PRICES.get(venue.kind, (20, 80))
        if high == 0 or (low == 0 and rng.random() < 0.5):
            return 0.0, 0.0
        lo = max(5.0, low * rng.uniform(0.8, 1.5))
        hi = min(float(high), lo * rng.uniform(1.5, 4.0))
        lo = round(lo) - 0.5 if rng.random() < 0.6 else float(round(lo))
        hi = max(lo, round(hi) - 0.5 if rng.random() < 0.6 else float(round(hi)))
        return lo, hi

    @staticmethod
    def _description(rng: random.Random, prog: _Programme, venue: Venue) -> str | None:
        if rng.random() >= 0.08:
            return None
        lines = [
            f"{prog.title} at {venue.name}.",
            rng.choice(
                [
                    "Doors open one hour before the show.",
                    "All ages welcome; under 16s must be accompanied by an adult.",
                    "21+ with valid photo ID.",
                    "Seating is general admission, first come first served.",
                    "Running time is approximately two hours including one interval.",
                ]
            ),
        ]
        return " ".join(lines)

    # -- sports -----------------------------------------------------------

    def _fixture(
        self, venue: Venue, zone: ZoneInfo, day: dt.date
    ) -> tuple[float, SandboxEvent] | None:
        leagues = self.cat["leagues"]
        year, week, _ = day.isocalendar()
        for team in venue.teams:
            league = leagues[team.league]
            if day.month not in league["months"]:
                continue
            scheme = league["scheme"]
            if scheme == "daily":
                home = _u(self.seed, team.name, day) < league["p"]
                orng = _rng(self.seed, team.name, day, "opponent")
            elif scheme == "homestand":
                home = _u(self.seed, team.name, year, week) < 0.5 and day.weekday() != 0
                orng = _rng(self.seed, team.name, year, week, "opponent")
            else:  # weekly
                dows = league["days"]
                dow = dows[_h(self.seed, team.name, year, week, "dow") % len(dows)]
                home = _u(self.seed, team.name, year, week) < 0.5 and day.weekday() == dow
                orng = _rng(self.seed, team.name, year, week, "opponent")
            if not home:
                continue
            opponent = orng.choice([t for t in league["teams"] if t != team.name])
            key = f"{self.seed}:{venue.key}:{day.isoformat()}:{team.name}"
            rng = _rng(key)
            times = league["weekend" if day.weekday() >= 5 else "weekday"]
            prog = _Programme(
                title=f"{team.name}{league['sep']}{opponent}",
                category="sports",
                genre=league["sport"],
                subgenre=league.get("subgenre", team.league),
                performers=(
                    Performer(team.name, "team", league["sport"]),
                    Performer(opponent, "team", league["sport"]),
                ),
                price=_SPORT_PRICES.get(team.league),
            )
            event = self._event(
                key, rng, venue, zone, day, _time(rng.choice(times)), prog, boost=0.3
            )
            return _u("keep", key), event
        return None

    # -- undated ----------------------------------------------------------

    def undated(self, venues: tuple[Venue, ...], count: int) -> list[SandboxEvent]:
        """``count`` postponed-without-a-date (TBA) or date-to-be-decided (TBD) events."""
        hosts = [
            v for v in venues if v.kind in ("club", "theatre", "arena", "comedy_club")
        ] or list(venues)
        out = []
        for k in range(count):
            key = f"{self.seed}:{self.city.slug}:undated:{k}"
            rng = _rng(key)
            venue = rng.choice(hosts)
            prog = self._programme(venue, self.anchor.date(), dt.time(20), rng)
            tba = rng.random() < 0.7
            low, high = _PRICES.get(venue.kind, (20, 80))
            out.append(
                SandboxEvent(
                    key=key,
                    title=prog.title,
                    category=prog.category,
                    genre=prog.genre,
                    subgenre=prog.subgenre,
                    venue=venue,
                    start=None,
                    undated="tba" if tba else "tbd",
                    status="postponed" if tba else "scheduled",
                    performers=prog.performers,
                    currency=_CURRENCY.get(venue.country_code, "USD"),
                    price_min=float(low) if rng.random() < 0.5 else None,
                    price_max=float(high) if rng.random() < 0.5 else None,
                    popularity=round(0.2 + 0.5 * rng.random(), 4),
                    onsale_at=self.anchor - dt.timedelta(days=rng.randrange(30, 200)),
                )
            )
        return out

    # -- what a slot holds ------------------------------------------------

    @staticmethod
    def _residency_programme(res: Residency) -> _Programme:
        return _Programme(
            title=res.title,
            category=res.category,
            genre=res.genre,
            subgenre=res.subgenre,
            family=res.family,
            performers=(Performer(res.title.split(" (")[0], "company"),),
        )

    def _programme(self, venue: Venue, day: dt.date, at: dt.time, rng: random.Random) -> _Programme:
        kind = venue.kind
        r = rng.random()
        if kind == "arena":
            if r < 0.70:
                return self._music(rng, "arena", big=True)
            if r < 0.82:
                return self._comedy_tour(rng)
            if r < 0.97:
                return self._family_show(rng)
            a, b = self._person(rng), self._person(rng)
            return _Programme(
                f"Championship Boxing: {a} vs. {b}",
                "sports",
                "Boxing",
                "Boxing",
                (Performer(a, "artist"), Performer(b, "artist")),
            )
        if kind in ("stadium", "amphitheater"):
            return self._music(rng, kind, big=True)
        if kind == "theatre":
            if r < 0.55:
                return self._music(rng, "theatre")
            if r < 0.75:
                return self._comedy_tour(rng)
            if r < 0.85:
                return self._talk(rng)
            if r < 0.95:
                company = f"{rng.choice(self.cat['adjectives'])} Dance Company"
                return _Programme(
                    f"{company}: {rng.choice(self.cat['tour_phrases'])}",
                    "arts",
                    "Dance",
                    "Modern Dance",
                    (Performer(company, "company"),),
                )
            return self._family_show(rng)
        if kind == "playhouse":
            return self._play(venue, day)
        if kind == "club":
            if r < 0.92:
                return self._music(rng, "club")
            if r < 0.97:
                return self._comedy_tour(rng)
            return self._dj_night(rng)
        if kind == "dance_club":
            return self._dj_night(rng)
        if kind == "jazz_club":
            return self._jazz(rng)
        if kind == "comedy_club":
            return self._comedy_club(rng, venue, at)
        if kind == "concert_hall":
            return self._classical(rng, venue, day)
        if kind == "opera_house":
            return self._opera_house(venue, day, rng)
        if kind == "cinema":
            return self._film(rng, venue)
        if kind in ("museum", "science_museum", "family_attraction"):
            return self._museum(rng, venue)
        return self._music(rng, "club")

    def _person(self, rng: random.Random) -> str:
        return f"{rng.choice(self.cat['first_names'])} {rng.choice(self.cat['last_names'])}"

    def _music(self, rng: random.Random, mix: str, *, big: bool = False) -> _Programme:
        genre = _weighted(rng, self.cat["genre_mix"][mix])
        sub = rng.choice(self.cat["music_genres"][genre])
        act = rng.choice(self.acts[genre])
        performers = [act]
        phrase = rng.choice(self.cat["tour_phrases"])
        r = rng.random()
        if big:
            title = (
                f"{act.name}: {phrase} Tour"
                if r < 0.45
                else f"{act.name} - {phrase} Tour"
                if r < 0.65
                else f"{act.name} – The {phrase} World Tour"
                if r < 0.8
                else act.name
            )
            if rng.random() < 0.35:
                support = rng.choice(self.acts[genre])
                if support != act:
                    performers.append(support)
        elif r < 0.45:
            title = act.name
        elif r < 0.65:
            support = rng.choice(self.acts[genre])
            title = f"{act.name} with {support.name}" if support != act else act.name
            performers.append(support)
        elif r < 0.75:
            title = f"{act.name} (21+)"
        elif r < 0.88:
            title = f"{act.name} - {phrase} Tour"
        elif r < 0.94:
            title = f"{act.name}: Album Release Show"
        else:
            title = f"An Evening with {act.name}"
        if sub == genre:
            sub = None if rng.random() < 0.5 else sub
        return _Programme(title, "music", genre, sub, tuple(performers))

    def _dj_night(self, rng: random.Random) -> _Programme:
        a, b = rng.sample(self.acts["Dance/Electronic"], 2)
        party = rng.choice(self.cat["party_names"])
        r = rng.random()
        performers: tuple[Performer, ...]
        if r < 0.35:
            title, performers = f"{party}: {a.name} + {b.name}", (a, b)
        elif r < 0.6:
            title, performers = f"{a.name} (All Night Long)", (a,)
        elif r < 0.8:
            title, performers = f"{a.name} b2b {b.name}", (a, b)
        else:
            title, performers = f"{party} with {a.name}", (a,)
        return _Programme(
            title,
            "nightlife",
            "Dance/Electronic",
            rng.choice(("House", "Techno", "Disco")),
            performers,
        )

    def _jazz(self, rng: random.Random) -> _Programme:
        leader = self._person(rng)
        ensemble = rng.choice(self.cat["ensembles"])
        r = rng.random()
        if r < 0.6:
            title = f"{leader} {ensemble}"
        elif r < 0.8:
            title = f"{leader} {ensemble}: Celebrating {rng.choice(self.cat['jazz_legends'])}"
        elif r < 0.9:
            title = "Late Night Jam Session"
        else:
            title = f"Jazz Brunch with the {leader} {ensemble}"
        return _Programme(
            title,
            "music",
            "Jazz",
            rng.choice(self.cat["music_genres"]["Jazz"]),
            (Performer(f"{leader} {ensemble}", "artist", "Jazz"),),
        )

    def _comedian(self, rng: random.Random) -> Performer:
        return Performer(self._person(rng), "comedian", "Comedy")

    def _comedy_tour(self, rng: random.Random) -> _Programme:
        comic = self._comedian(rng)
        phrase = rng.choice(self.cat["comedy_phrases"])
        title = f"{comic.name}: {phrase} Tour" if rng.random() < 0.7 else f"{comic.name} Live"
        return _Programme(title, "comedy", "Comedy", None, (comic,))

    def _comedy_club(self, rng: random.Random, venue: Venue, at: dt.time) -> _Programme:
        r = rng.random()
        comic = self._comedian(rng)
        show = rng.choice(self.cat["comedy_shows"])
        if at.hour >= 22:
            show = "Late Show"
        elif at.hour < 20 and rng.random() < 0.5:
            show = "Early Show"
        if "Second City" in venue.name and r < 0.6:
            revue = rng.choice(self.cat["revues"])
            return _Programme(
                f"The Second City Mainstage: {revue}",
                "comedy",
                "Comedy",
                "Improv",
                (Performer("The Second City", "company"),),
            )
        if r < 0.45:
            title = f"{venue.name}: {show}"
            return _Programme(title, "comedy", "Comedy", None, (comic, self._comedian(rng)))
        if r < 0.8:
            return _Programme(
                f"{comic.name} (Special Engagement)" if r < 0.55 else comic.name,
                "comedy",
                "Comedy",
                None,
                (comic,),
            )
        return _Programme(
            f"{show} featuring {comic.name}",
            "comedy",
            "Comedy",
            None,
            (comic,),
        )

    def _talk(self, rng: random.Random) -> _Programme:
        speaker = self._person(rng)
        pattern = rng.choice(self.cat["speakers"])
        if "Podcast" in pattern:
            return _Programme(
                pattern % speaker, "other", "Undefined", None, (Performer(speaker, "artist"),)
            )
        return _Programme(
            pattern % speaker, "learning", "Lecture/Seminar", None, (Performer(speaker, "artist"),)
        )

    def _family_show(self, rng: random.Random) -> _Programme:
        title = rng.choice(self.cat["family_shows"])
        return _Programme(
            title,
            "family",
            "Family",
            "Children's Theatre",
            (Performer(title, "company"),),
            family=True,
            price=(20, 120),
        )

    def _play(self, venue: Venue, day: dt.date) -> _Programme:
        mrng = _rng(self.seed, venue.key, day.year, day.month, "season")
        pool = self.cat["shakespeare"] if venue.repertoire == "shakespeare" else self.cat["plays"]
        title = mrng.choice(pool)
        return _Programme(title, "theater", "Theatre", "Drama", (Performer(venue.name, "company"),))

    def _classical(self, rng: random.Random, venue: Venue, day: dt.date) -> _Programme:
        r = rng.random()
        composer, pattern, numbers = rng.choice(self.cat["composers"])
        work = f"{composer}'s {pattern % rng.choice(numbers)}"
        if day.month == 12 and r < 0.15:
            chorus = (
                f"{venue.resident or venue.name} Chorus" if venue.resident else "Oratorio Society"
            )
            return _Programme(
                "Handel's Messiah", "music", "Classical", "Choral", (Performer(chorus, "company"),)
            )
        if venue.resident and r < 0.55:
            return _Programme(
                f"{venue.resident}: {work}",
                "music",
                "Classical",
                "Symphonic",
                (Performer(venue.resident, "company", "Classical"),),
            )
        if r < 0.75:
            artist = self._person(rng)
            instrument = rng.choice(self.cat["recital_instruments"])
            return _Programme(
                f"{artist}, {instrument}",
                "music",
                "Classical",
                "Recital",
                (Performer(artist, "artist", "Classical"),),
            )
        if r < 0.9:
            quartet = f"{rng.choice(self.cat['singulars'])} String Quartet"
            composers = rng.sample([c[0] for c in self.cat["composers"]], 2)
            return _Programme(
                f"{quartet}: {composers[0]} & {composers[1]}",
                "music",
                "Classical",
                "Chamber Music",
                (Performer(quartet, "artist", "Classical"),),
            )
        orchestra = rng.choice(self.cat["touring_orchestras"])
        return _Programme(
            f"{orchestra}: {work}",
            "music",
            "Classical",
            "Symphonic",
            (Performer(orchestra, "company", "Classical"),),
        )

    def _opera_house(self, venue: Venue, day: dt.date, rng: random.Random) -> _Programme:
        mrng = _rng(self.seed, venue.key, day.year, day.month, "season")
        ballet = venue.repertoire == "ballet"
        season = mrng.sample(self.cat["ballets" if ballet else "operas"], 3)
        work = rng.choice(season)
        company = venue.resident or venue.name
        return _Programme(
            f"{company}: {work}",
            "arts",
            "Dance" if ballet else "Opera",
            "Ballet" if ballet else None,
            (Performer(company, "company"),),
        )

    def _film(self, rng: random.Random, venue: Venue) -> _Programme:
        title, year, genre = rng.choice(self.cat["films"])
        r = rng.random()
        if r < 0.03:
            fest = f"{venue.locality} {rng.choice(self.cat['film_festivals'])}"
            return _Programme(
                f"{fest}: Festival Pass",
                "film",
                "Festival",
                None,
                (),
                span_days=rng.randrange(3, 9),
            )
        if r < 0.1:
            director = self._person(rng)
            return _Programme(
                f"Premiere + Q&A: {director}'s {rng.choice(self.cat['plays'])}",
                "film",
                "Drama",
                None,
                (Performer(director, "artist"),),
            )
        if r < 0.18:
            other, _, _ = rng.choice(self.cat["films"])
            return _Programme(f"Double Feature: {title} + {other}", "film", genre, None)
        fmt = rng.choice(self.cat["film_formats"])
        return _Programme(f"{title} ({year}){fmt}", "film", genre, None)

    def _museum(self, rng: random.Random, venue: Venue) -> _Programme:
        r = rng.random()
        cat = self.cat
        if venue.kind == "family_attraction":
            if r < 0.1:
                return _Programme(
                    f"{venue.name} Family Day Pass",
                    "family",
                    "Family",
                    None,
                    family=True,
                    date_only=True,
                    price=(15, 40),
                )
            animal = rng.choice(cat["animals"])
            title = rng.choice(
                (f"Keeper Talk: {animal}", f"Early Explorers: {animal}", f"Feeding Time: {animal}")
            )
            return _Programme(title, "family", "Family", None, family=True)
        if r < 0.06:
            title = (
                f"{rng.choice(cat['exhibition_themes'])}: {rng.choice(cat['exhibition_subtitles'])}"
            )
            return _Programme(
                title,
                "arts",
                "Fine Art",
                "Exhibition",
                date_only=True,
                span_days=rng.randrange(30, 120),
            )
        if venue.kind == "science_museum":
            if r < 0.5:
                theme = rng.choice(cat["family_themes"])
                return _Programme(f"Family Day: {theme}", "family", "Family", None, family=True)
            if r < 0.75:
                return _Programme(
                    f"Science Café: {rng.choice(cat['science_topics'])}",
                    "learning",
                    "Lecture/Seminar",
                    None,
                )
            if r < 0.9:
                return _Programme(
                    f"Planetarium Show: {rng.choice(cat['science_topics'])}",
                    "learning",
                    "Lecture/Seminar",
                    None,
                    family=True,
                )
            return _Programme(
                f"Adults-Only Night: {rng.choice(cat['science_topics'])}",
                "nightlife",
                "Undefined",
                None,
            )
        if r < 0.5:
            prefix = rng.choice(("Gallery Talk", "Curator Talk", "Lecture"))
            return _Programme(
                f"{prefix}: {rng.choice(cat['talk_topics'])}", "arts", "Fine Art", "Lecture"
            )
        if r < 0.7:
            theme = rng.choice(cat["family_themes"])
            return _Programme(f"Family Day: {theme}", "family", "Family", None, family=True)
        if r < 0.85:
            return _Programme(f"{venue.name} After Hours", "nightlife", "Undefined", None)
        title, year, genre = rng.choice(cat["films"])
        return _Programme(f"Film Screening: {title} ({year})", "film", genre, None)


@functools.cache
def _acts(seed: int, size: int = _ACTS) -> dict[str, list[Performer]]:
    """A pool of ``size`` invented acts per music genre (touring acts play several cities).

    A larger pool starts with the smaller one; a genre whose names run out has fewer.
    """
    cat = _catalog("catalog.json")
    pool: dict[str, list[Performer]] = {}
    for genre in cat["music_genres"]:
        rng = _rng(seed, "acts", genre)
        seen: set[str] = set()
        acts: list[Performer] = []
        for _ in range(40 * size):
            if len(acts) >= size:
                break
            r = rng.random()
            if genre in ("Hip-Hop/Rap", "Dance/Electronic") and r < 0.6:
                name = rng.choice(cat["stage_names"])
                if rng.random() < 0.5:
                    name = (
                        f"{name} {rng.choice(cat['singulars'])}"
                        if genre == "Dance/Electronic"
                        else f"Lil {name}"
                    )
            elif r < 0.3:
                name = f"The {rng.choice(cat['adjectives'])} {rng.choice(cat['plurals'])}"
            elif r < 0.5:
                name = f"{rng.choice(cat['adjectives'])} {rng.choice(cat['singulars'])}"
            elif r < 0.6:
                name = f"{rng.choice(cat['first_names'])} & the {rng.choice(cat['plurals'])}"
            else:
                name = f"{rng.choice(cat['first_names'])} {rng.choice(cat['last_names'])}"
            if name not in seen:
                seen.add(name)
                acts.append(Performer(name, "artist", genre))
        pool[genre] = acts
    return pool
