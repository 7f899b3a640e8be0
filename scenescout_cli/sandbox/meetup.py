"""Meetup's GraphQL API (``gql-ext``), emulated from its documented and observed behaviour.

Written from the reference notes (``/work/shared/reference/apis.md`` §4) alone, never from
the adapter, so that the adapter's mistakes show up against it.

Served at ``/meetup/gql-ext`` exactly (the adapter POSTs to its base URL) and with a
trailing slash. The server mounts every API under its prefix, and a mount only matches
paths *below* it, so the API also mounts under the alias ``/meetup`` with a ``/gql-ext``
route: together they answer both spellings without a redirect.

``POST {"query": "...", "variables": {...} | "<json>", "operationName": ...}``:

- Auth: ``Authorization: Bearer <token>``; missing or wrong → HTTP 401 with a GraphQL
  body (``errors[0].extensions.code == "UNAUTHENTICATED"``; the real body is not
  documented, this is the sandbox's choice) and ``WWW-Authenticate: Bearer``.
- Root fields: ``eventSearch(filter: EventSearchFilter!, first, after, sort,
  dataConfiguration)``, ``recommendedEvents(filter: RecommendedEventsFilter!, first,
  after, sort)`` and ``event(id: ID!)`` (by ``token``; an unstable ``id`` of a past call
  finds nothing, as ids of recurring events change). Other documented root fields
  (``groupByUrlname``, ``groupSearch``, ``self``) answer ``null`` with an error naming them
  as not emulated; unknown ones (``keywordSearch`` of the old API) fail validation.
- Filters as documented: ``query`` (required and non-empty for ``eventSearch``; words
  match title, description and group, any word matches), ``lat``/``lon`` (required floats
  for ``eventSearch``; strings are refused), ``radius`` in **miles** (default 25),
  ``startDateRange``/``endDateRange`` (ISO-8601; offset, ``Z`` or naive = UTC; bounds on the
  start, inclusive), ``eventType``, ``doConsolidateEvents`` (one event per recurring
  series). ``recommendedEvents`` without ``lat``/``lon`` falls back to ``city``, else the
  whole city. Online events are found near their group's location, while their venue
  carries Meetup's junk coordinates. Other documented filter fields are accepted and
  ignored; undocumented ones fail like real GraphQL input validation.
- Relay paging: ``first`` (default 20, clamped to 1000), ``after`` (an opaque cursor;
  a foreign one is an error), ``totalCount``, ``pageInfo {hasNextPage hasPreviousPage
  startCursor endCursor}``, ``edges {cursor node}``. Orders: ``RELEVANCE`` (default;
  stable per query) and ``DATETIME`` (soonest first; ``sortOrder`` is accepted and ignored).
  ``results_cap`` (off by default) emulates the single-scraper claim that a search stops
  after ~200 results.

The operation is parsed by a small recursive-descent parser (operations, variables with
types and defaults, aliases, arguments, fragments, inline fragments, ``@skip``/``@include``)
and validated against a schema sketch of the documented types: unknown fields (``venue``,
``going``, ``isOnline`` of the old API), scalar fields with sub-selections and object fields
without, unknown arguments, bad variable types and bad input values all come back as
GraphQL ``errors`` with HTTP 200 and ``data: null``, as Meetup answers them. Only the
selected fields are returned (aliases honoured). This is not a GraphQL engine: no
introspection, no mutations, no field arguments below the root except ``rsvps(...)``
(accepted and ignored). ``topics`` and ``series`` are documented without a shape: any
selection is accepted and they answer ``null``.

Rate limit: 500 points per 60 seconds per token (sliding window); the cost per query is
not published, so each root field costs one point and a request at least one. Over the
limit → HTTP 200 with ``errors[0].extensions.code == "RATE_LIMITED"`` and ``resetAt``
(the sandbox's rendering of an undocumented answer). ``rate_limit=False`` disables it.

Data: about 20% of the world's event count as Meetup events — community, learning,
wellness and tech groups meeting at the city's real venues, some online (venue
``"Online event"`` at ``-8.521147, 179.1962`` with ``venueType "online"``) or hybrid (two
venues), and a few group outings to events the world (hence Ticketmaster) also lists,
with the variations of user-entered data: another title, a venue name and address
spelled differently, coordinates a few dozen metres off, sometimes a meeting time 30
minutes before the show. Payload quirks as documented: ``id`` unstable (for events of
recurring series it changes on every call; ``token`` is stable), ``dateTime``/``endTime``
in ISO-8601 with the local offset and seconds, ``endTime`` sometimes null, ISO ``duration``,
markdown-ish descriptions, venue ``country`` lower-case, an occasional garbage
``state``/``postalCode`` (``"meetup1"``), ``group.timezone`` sometimes a legacy alias
(``US/Eastern``), ``feeSettings`` null when free, ``featuredEventPhoto`` null on a quarter
of events, its URLs on the sandbox's image route.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import random
import re
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .data import UTC, SandboxEvent, Venue, World, distance_km

__all__ = [
    "ALIASES",
    "NAME",
    "ONLINE_LAT",
    "ONLINE_LON",
    "POINTS_PER_MINUTE",
    "PREFIX",
    "TOKEN",
    "MeetupApi",
    "MeetupEvent",
    "build_events",
]

NAME = "meetup"
PREFIX = "/meetup/gql-ext"
ALIASES = ("/meetup",)
TOKEN = "sandbox-meetup-token"
POINTS_PER_MINUTE = 500
SHARE = 0.2  # Meetup events per world event
OVERLAP_SHARE = 0.06  # of the Meetup events: outings to events the world also lists
DEFAULT_FIRST = 20
MAX_FIRST = 1000
DEFAULT_RADIUS_MILES = 25.0
ONLINE_LAT, ONLINE_LON = -8.521147, 179.1962  # as observed on Meetup's online venue
_KM_PER_MILE = 1.609344
_JSON = "application/json"
_PHOTO_SIZES = {"highres": (1200, 675), "standard": (676, 380), "thumb": (272, 153)}
_LEGACY_ZONES = {
    "America/New_York": "US/Eastern",
    "America/Chicago": "US/Central",
    "America/Los_Angeles": "US/Pacific",
}
_CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "CA": "CAD"}


# ---------------------------------------------------------------------------
# Groups: what meets where and when


@attrs.frozen
class _GroupSpec:
    """A kind of Meetup group; ``{city}`` in names is the city's name."""

    name: str
    topic: str  # what the titles and descriptions talk about
    words: tuple[str, ...]  # extra search words (a group's topics)
    titles: tuple[str, ...]  # "{topic}" is one of ``subjects``
    subjects: tuple[str, ...]
    hosts: tuple[str, ...]  # venue kinds the group meets at
    weekday_time: str
    weekend_time: str
    days: tuple[int, ...]  # preferred weekdays (Monday = 0)
    minutes: int  # typical duration
    online: float = 0.0  # share of online events
    hybrid: float = 0.0
    fee: float = 0.0  # share of events with a fee
    fee_range: tuple[float, float] = (5.0, 20.0)
    size: int = 40  # typical RSVPs
    recurring: bool = True
    outings: tuple[str, ...] = ()  # venue kinds whose world events the group attends


_TECH_HOSTS = ("club", "theatre", "cinema", "museum", "science_museum", "playhouse")
_SOCIAL_HOSTS = ("club", "jazz_club", "comedy_club", "dance_club")
_CALM_HOSTS = ("museum", "science_museum", "concert_hall", "theatre", "playhouse")

_GROUPS: tuple[_GroupSpec, ...] = (
    _GroupSpec(
        "{city} Python Meetup",
        "Python",
        ("python", "programming", "tech", "software", "coding", "developers"),
        ("Python Night: {topic}", "Lightning Talks & Pizza", "Project Night", "{topic}"),
        (
            "Typing deep dive",
            "Async Python in production",
            "Packaging without tears",
            "Data pipelines with Polars",
            "Testing with pytest",
            "Structured concurrency with Trio",
        ),
        _TECH_HOSTS,
        "18:30",
        "11:00",
        (1, 3),
        150,
        online=0.25,
        hybrid=0.05,
        size=70,
    ),
    _GroupSpec(
        "{city} JavaScript & TypeScript",
        "JavaScript",
        ("javascript", "typescript", "web", "frontend", "tech", "developers", "coding"),
        ("JS Night: {topic}", "{topic} (talks + drinks)", "Hack Night"),
        ("React Server Components", "Bun vs Node", "Type-safe APIs", "Web performance", "Deno"),
        _TECH_HOSTS,
        "18:30",
        "12:00",
        (2,),
        150,
        online=0.2,
        size=60,
    ),
    _GroupSpec(
        "AI & Machine Learning {city}",
        "machine learning",
        ("ai", "machine", "learning", "ml", "llm", "data", "tech", "artificial", "intelligence"),
        ("AI Meetup: {topic}", "Paper Reading Group: {topic}", "{topic} — talks & networking"),
        ("Evaluating LLMs", "RAG in practice", "Small models on the edge", "Fine-tuning"),
        _TECH_HOSTS,
        "18:00",
        "14:00",
        (1, 3),
        180,
        online=0.3,
        hybrid=0.1,
        size=120,
    ),
    _GroupSpec(
        "Data Science {city}",
        "data science",
        ("data", "science", "analytics", "statistics", "python", "tech"),
        ("Data Science Night: {topic}", "Workshop: {topic}"),
        ("Causal inference", "Dashboards that matter", "Forecasting", "SQL tricks"),
        _TECH_HOSTS,
        "18:30",
        "13:00",
        (0, 2),
        120,
        online=0.2,
        fee=0.1,
        size=80,
    ),
    _GroupSpec(
        "{city} Rust Users Group",
        "Rust",
        ("rust", "programming", "systems", "tech", "coding"),
        ("Rust Meetup: {topic}", "Rust Hack & Learn"),
        ("Async Rust", "Embedded Rust", "Error handling", "Rust in production"),
        _TECH_HOSTS,
        "19:00",
        "14:00",
        (3,),
        120,
        online=0.15,
        size=45,
    ),
    _GroupSpec(
        "Women in Tech {city}",
        "tech careers",
        ("women", "tech", "career", "networking", "diversity", "software"),
        ("Panel: {topic}", "Networking Night", "Mentoring Circle: {topic}"),
        ("Negotiating your salary", "Becoming a staff engineer", "Leading teams"),
        _TECH_HOSTS,
        "18:30",
        "11:00",
        (2,),
        120,
        hybrid=0.1,
        size=90,
    ),
    _GroupSpec(
        "{city} Startup Founders & Builders",
        "startups",
        ("startup", "startups", "founders", "entrepreneurs", "business", "networking", "tech"),
        ("Founders Mixer", "Pitch Night", "Fireside Chat: {topic}"),
        ("Raising a seed round", "Finding product-market fit", "Hiring your first engineer"),
        ("club", "jazz_club", "theatre"),
        "18:30",
        "10:00",
        (1, 3),
        150,
        fee=0.3,
        fee_range=(10.0, 25.0),
        size=100,
    ),
    _GroupSpec(
        "Product Managers {city}",
        "product management",
        ("product", "management", "pm", "career", "tech", "business"),
        ("Product Night: {topic}", "PM Coffee & Chat"),
        ("Roadmaps", "Discovery interviews", "Metrics that matter"),
        _TECH_HOSTS,
        "18:30",
        "10:00",
        (2,),
        120,
        online=0.2,
        size=60,
    ),
    _GroupSpec(
        "{city} UX & Design Community",
        "design",
        ("ux", "design", "ui", "product", "creative", "tech"),
        ("Design Crit Night", "UX Talks: {topic}", "Portfolio Review"),
        ("Accessibility", "Design systems", "Research ops"),
        _TECH_HOSTS,
        "18:30",
        "11:00",
        (3,),
        120,
        online=0.15,
        size=50,
    ),
    _GroupSpec(
        "Cloud Native {city}",
        "cloud",
        ("cloud", "kubernetes", "devops", "infrastructure", "tech", "sre"),
        ("Cloud Native Night: {topic}", "{topic} workshop"),
        ("Platform engineering", "Observability", "GitOps", "Cost control"),
        _TECH_HOSTS,
        "18:00",
        "11:00",
        (1,),
        150,
        online=0.2,
        size=70,
    ),
    _GroupSpec(
        "{city} Game Developers",
        "game development",
        ("games", "gamedev", "indie", "unity", "godot", "tech", "developers"),
        ("Game Dev Night: {topic}", "Playtest Party", "Game Jam Kickoff"),
        ("Procedural worlds", "Shipping on Steam", "Game feel"),
        _TECH_HOSTS,
        "19:00",
        "12:00",
        (3,),
        180,
        size=40,
    ),
    _GroupSpec(
        "{city} Spanish-English Language Exchange",
        "languages",
        ("spanish", "english", "language", "exchange", "languages", "social", "learning"),
        ("Intercambio: Spanish-English Exchange", "Language Exchange Night"),
        ("Spanish",),
        _SOCIAL_HOSTS,
        "19:00",
        "15:00",
        (1, 4),
        120,
        online=0.3,
        size=50,
    ),
    _GroupSpec(
        "French Conversation {city}",
        "French",
        ("french", "language", "conversation", "languages", "learning", "social"),
        ("Café Français", "French Conversation: {topic}"),
        ("beginners", "intermediate", "advanced"),
        _SOCIAL_HOSTS,
        "18:30",
        "11:00",
        (2,),
        90,
        online=0.3,
        size=30,
    ),
    _GroupSpec(
        "{city} Writers' Workshop",
        "writing",
        ("writing", "writers", "fiction", "poetry", "books", "creative", "learning"),
        ("Shut Up & Write!", "Critique Circle: {topic}", "Open Mic for Writers"),
        ("short fiction", "poetry", "memoir"),
        _CALM_HOSTS,
        "18:30",
        "10:30",
        (0, 5),
        120,
        online=0.3,
        size=20,
    ),
    _GroupSpec(
        "Speak Up {city}: Public Speaking Club",
        "public speaking",
        ("public", "speaking", "communication", "confidence", "learning", "career"),
        ("Public Speaking Practice", "Table Topics Night", "Speech Contest"),
        ("impromptu",),
        _CALM_HOSTS,
        "18:45",
        "10:00",
        (1,),
        105,
        online=0.1,
        fee=0.5,
        fee_range=(5.0, 10.0),
        size=25,
    ),
    _GroupSpec(
        "{city} Photography Walks",
        "photography",
        ("photography", "photo", "camera", "walk", "arts", "outdoors"),
        ("Photo Walk: {topic}", "Night Photography", "Street Photography Meetup"),
        ("golden hour", "architecture", "portraits"),
        ("museum", "science_museum", "family_attraction", "stadium", "amphitheater"),
        "18:00",
        "10:00",
        (5, 6),
        150,
        size=30,
    ),
    _GroupSpec(
        "Sketching & Urban Drawing {city}",
        "drawing",
        ("drawing", "sketching", "art", "arts", "urban", "sketchers", "creative"),
        ("Sketch Crawl: {topic}", "Drawing Session", "Urban Sketchers Meetup"),
        ("sculpture hall", "street scenes", "museum galleries"),
        ("museum", "science_museum", "family_attraction"),
        "18:00",
        "11:00",
        (5, 6),
        150,
        fee=0.2,
        fee_range=(5.0, 15.0),
        size=25,
    ),
    _GroupSpec(
        "{city} Book Club: Sci-Fi & Fantasy",
        "books",
        ("book", "books", "club", "reading", "scifi", "fantasy", "social"),
        ("Book Club: {topic}", "Monthly Discussion: {topic}"),
        ("The Left Hand of Darkness", "Piranesi", "The Dispossessed", "Hyperion", "Dune"),
        _SOCIAL_HOSTS,
        "19:00",
        "15:00",
        (0, 3),
        120,
        online=0.2,
        size=18,
    ),
    _GroupSpec(
        "Philosophy Café {city}",
        "philosophy",
        ("philosophy", "discussion", "ideas", "learning", "debate"),
        ("Philosophy Café: {topic}", "Socratic Dialogue: {topic}"),
        ("free will", "what is a good life?", "ethics of AI", "Stoicism"),
        _CALM_HOSTS,
        "19:00",
        "14:00",
        (2,),
        120,
        size=30,
    ),
    _GroupSpec(
        "{city} History Buffs",
        "history",
        ("history", "museum", "tours", "learning", "culture"),
        ("History Tour: {topic}", "Talk & Walk: {topic}"),
        ("the old harbour", "art deco", "immigrant stories", "forgotten theatres"),
        ("museum", "science_museum", "theatre"),
        "18:00",
        "11:00",
        (5, 6),
        120,
        fee=0.3,
        fee_range=(10.0, 20.0),
        size=35,
    ),
    _GroupSpec(
        "Board Games & Brews {city}",
        "board games",
        ("board", "games", "boardgames", "social", "fun", "gaming"),
        ("Board Game Night", "Strategy Games Afternoon", "Party Games & Pints"),
        ("board games",),
        _SOCIAL_HOSTS,
        "18:30",
        "14:00",
        (1, 4, 6),
        210,
        size=40,
    ),
    _GroupSpec(
        "{city} Newcomers & Expats",
        "newcomers",
        ("newcomers", "expats", "social", "friends", "networking", "international"),
        ("Newcomers Mixer", "Expat Drinks", "New in {city}? Meet & Greet"),
        ("meet & greet",),
        _SOCIAL_HOSTS,
        "19:00",
        "15:00",
        (3, 4),
        180,
        size=90,
    ),
    _GroupSpec(
        "Introverts Social Club {city}",
        "social",
        ("introverts", "social", "friends", "quiet", "community"),
        ("Quiet Drinks for Introverts", "Low-key Social: {topic}"),
        ("puzzles", "reading hour", "tea & talk"),
        _SOCIAL_HOSTS,
        "18:30",
        "14:00",
        (2,),
        120,
        size=25,
    ),
    _GroupSpec(
        "{city} Trivia Night Crew",
        "trivia",
        ("trivia", "quiz", "pub", "social", "games"),
        ("Trivia Night", "Pub Quiz Team-Up"),
        ("trivia",),
        _SOCIAL_HOSTS,
        "19:30",
        "16:00",
        (1,),
        150,
        size=30,
    ),
    _GroupSpec(
        "Mindful Meditation {city}",
        "meditation",
        ("meditation", "mindfulness", "wellness", "health", "calm", "spirituality"),
        ("Guided Meditation", "Mindfulness Evening: {topic}", "Silent Sit"),
        ("breath", "loving-kindness", "body scan"),
        _CALM_HOSTS,
        "19:00",
        "09:30",
        (0, 3, 6),
        75,
        online=0.35,
        fee=0.3,
        fee_range=(5.0, 15.0),
        size=25,
    ),
    _GroupSpec(
        "{city} Yoga & Wellness Collective",
        "yoga",
        ("yoga", "wellness", "fitness", "health", "stretching", "mindfulness"),
        ("Vinyasa Flow", "Yoga in the Galleries", "Gentle Yoga & Tea", "Sunset Yoga"),
        ("yoga",),
        ("museum", "science_museum", "concert_hall", "amphitheater", "club"),
        "18:30",
        "09:00",
        (1, 5),
        75,
        online=0.15,
        fee=0.6,
        fee_range=(10.0, 25.0),
        size=30,
    ),
    _GroupSpec(
        "Sound Bath & Breathwork {city}",
        "breathwork",
        ("sound", "bath", "breathwork", "wellness", "meditation", "relaxation"),
        ("Sound Bath", "Breathwork Journey", "Full Moon Sound Healing"),
        ("sound",),
        _CALM_HOSTS,
        "19:30",
        "17:00",
        (4, 6),
        90,
        fee=0.8,
        fee_range=(15.0, 35.0),
        size=35,
    ),
    _GroupSpec(
        "{city} Mental Health Peer Support",
        "mental health",
        ("mental", "health", "support", "wellness", "community", "anxiety"),
        ("Peer Support Circle", "Anxiety Support Group", "Walk & Talk"),
        ("support",),
        _CALM_HOSTS,
        "18:30",
        "11:00",
        (0,),
        90,
        online=0.4,
        size=15,
    ),
    _GroupSpec(
        "{city} Wine Tasting Society",
        "wine",
        ("wine", "tasting", "food", "drinks", "social", "sommelier"),
        ("Wine Tasting: {topic}", "Natural Wine Night"),
        ("Loire whites", "Rioja", "orange wines", "Champagne"),
        ("jazz_club", "club", "concert_hall"),
        "19:00",
        "16:00",
        (3,),
        120,
        fee=0.9,
        fee_range=(25.0, 60.0),
        size=30,
    ),
    _GroupSpec(
        "{city} Salsa & Bachata Social",
        "dancing",
        ("salsa", "bachata", "dance", "dancing", "latin", "social"),
        ("Salsa Social", "Beginner Bachata Class + Social", "Latin Night"),
        ("salsa",),
        ("dance_club", "club", "jazz_club"),
        "20:00",
        "18:00",
        (2, 5),
        180,
        fee=0.7,
        fee_range=(10.0, 20.0),
        size=60,
    ),
    _GroupSpec(
        "Improv for Beginners {city}",
        "improv",
        ("improv", "comedy", "theater", "acting", "fun", "confidence"),
        ("Drop-in Improv Class", "Improv Jam", "Intro to Improv"),
        ("improv",),
        ("comedy_club", "theatre", "playhouse"),
        "19:00",
        "14:00",
        (1,),
        120,
        fee=0.6,
        fee_range=(10.0, 25.0),
        size=20,
    ),
    _GroupSpec(
        "{city} Jazz Lovers",
        "jazz",
        ("jazz", "music", "live", "social", "concerts"),
        ("Jazz Listening Session", "Jazz Lovers Social"),
        ("jazz",),
        ("jazz_club",),
        "19:00",
        "15:00",
        (4,),
        150,
        size=25,
        recurring=False,
        outings=("jazz_club",),
    ),
    _GroupSpec(
        "{city} Classical Music Fans",
        "classical music",
        ("classical", "music", "orchestra", "opera", "concerts", "social"),
        ("Pre-concert Drinks", "Classical Music Social"),
        ("classical",),
        ("concert_hall",),
        "18:30",
        "14:00",
        (5,),
        150,
        size=25,
        recurring=False,
        outings=("concert_hall", "opera_house"),
    ),
    _GroupSpec(
        "{city} Film Buffs",
        "film",
        ("film", "movies", "cinema", "classics", "social"),
        ("Film Discussion Night", "Cinephile Social"),
        ("film",),
        ("cinema",),
        "19:00",
        "14:00",
        (2,),
        150,
        size=25,
        recurring=False,
        outings=("cinema",),
    ),
    _GroupSpec(
        "Comedy Lovers {city}",
        "comedy",
        ("comedy", "standup", "laughs", "social", "nightlife"),
        ("Comedy Night Out", "Open Mic Support Crew"),
        ("comedy",),
        ("comedy_club",),
        "20:00",
        "20:00",
        (4,),
        120,
        size=20,
        recurring=False,
        outings=("comedy_club",),
    ),
    _GroupSpec(
        "Museum Hoppers {city}",
        "museums",
        ("museum", "museums", "art", "arts", "culture", "exhibitions", "social"),
        ("Museum Meetup", "Gallery Stroll"),
        ("museums",),
        ("museum", "science_museum"),
        "17:30",
        "11:00",
        (6,),
        150,
        size=25,
        recurring=False,
        outings=("museum", "science_museum"),
    ),
    _GroupSpec(
        "{city} Live Music Fans",
        "live music",
        ("live", "music", "concerts", "gigs", "indie", "social"),
        ("Gig Buddies Social",),
        ("live music",),
        ("club",),
        "19:00",
        "15:00",
        (4,),
        150,
        size=20,
        recurring=False,
        outings=("club",),
    ),
)
_OUTING_CATEGORIES = frozenset({"music", "comedy", "film", "arts", "learning", "nightlife"})


@attrs.frozen
class _Group:
    spec: _GroupSpec
    slug: str
    name: str
    urlname: str
    id: str
    timezone: str  # as Meetup shows it (sometimes a legacy alias)
    zone: str  # the IANA zone used to place events
    lat: float
    lon: float
    hosts: tuple[Venue, ...]


@attrs.frozen
class MeetupEvent:
    """One Meetup event as the sandbox knows it, before rendering.

    ``key`` is stable; ``token`` is Meetup's stable id. ``outing_of`` is the key of the
    world (Ticketmaster) event a group outing goes to, else None. ``venue`` is None for
    online events; hybrid events have a venue and an online one.
    """

    key: str
    token: str
    group: _Group
    title: str
    description: str
    start: dt.datetime  # aware, in the group's zone
    minutes: int
    end_known: bool
    event_type: str  # PHYSICAL | ONLINE | HYBRID
    venue: Venue | None
    status: str
    fee: float | None
    currency: str
    yes: int
    waitlist: int
    max_tickets: int
    photo: bool
    recurring: bool
    created: dt.datetime
    outing_of: str | None = None

    @property
    def instant(self) -> dt.datetime:
        return self.start.astimezone(UTC)

    @property
    def geo(self) -> tuple[float, float]:
        """Where a location search finds the event: its venue, else its group."""
        if self.venue is not None:
            return self.venue.lat, self.venue.lon
        return self.group.lat, self.group.lon


# ---------------------------------------------------------------------------
# Hashing


def _h(*parts: object) -> int:
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _u(*parts: object) -> float:
    return _h(*parts) / 2.0**64


def _rng(*parts: object) -> random.Random:
    return random.Random(_h(*parts))


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isascii() and c.isalnum() else "-" for c in text)
    return "-".join(filter(None, out.split("-")))


def _token(key: str) -> str:
    return str(300_000_000 + _h("meetup-token", key) % 99_000_000)


@functools.lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in re.findall(r"\w+", text.casefold()))


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


# ---------------------------------------------------------------------------
# Building the events (pure)


def _groups(world: World) -> list[_Group]:
    city = world.city
    venues = world.venues
    out = []
    for spec in _GROUPS:
        name = spec.name.format(city=city.name)
        slug = _slug(name)
        hosts = [v for v in venues if v.kind in spec.hosts] or list(venues)
        hosts.sort(key=lambda v: _h("mu-host", slug, v.key))
        zone = city.timezone
        rng = _rng(world.seed, "mu-group", city.slug, slug)
        shown = _LEGACY_ZONES.get(zone, zone) if rng.random() < 0.3 else zone
        urlname = slug if rng.random() < 0.6 else f"{slug}-{rng.randrange(100, 999)}"
        out.append(
            _Group(
                spec=spec,
                slug=slug,
                name=name,
                urlname=urlname,
                id=str(10_000_000 + _h("mu-group-id", city.slug, slug) % 30_000_000),
                timezone=shown,
                zone=zone,
                lat=round(city.area.lat + rng.uniform(-0.02, 0.02), 6),
                lon=round(city.area.lon + rng.uniform(-0.02, 0.02), 6),
                hosts=tuple(hosts[:3]),
            )
        )
    return out


def build_events(world: World) -> tuple[MeetupEvent, ...]:
    """The world's Meetup events: about ``SHARE`` of its dated events, in start order.

    Pure and deterministic: each event is a hash of the seed, its group and its local
    date, and the ones kept are those with the lowest keep-rank, so a world anchored a
    day later keeps (almost) the same events under the same tokens.
    """
    dated = [e for e in world.events if e.start is not None]
    total = round(SHARE * len(dated))
    if total == 0:
        return ()
    groups = _groups(world)
    outings = _outings(world, groups, dated, round(total * OVERLAP_SHARE))
    native = _native(world, groups, total - len(outings))
    events = sorted([*outings, *native], key=lambda e: (e.instant, e.token))
    return tuple(events)


def _native(world: World, groups: list[_Group], count: int) -> list[MeetupEvent]:
    if count <= 0:
        return []
    days = world.days
    slots = max(1, math.ceil(count * 1.5 / max(1, len(groups) * days)))
    candidates: list[tuple[float, _Group, dt.date, int, dt.datetime]] = []
    for group in groups:
        zone = ZoneInfo(group.zone)
        first = world.anchor.astimezone(zone).date()
        last = (world.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
        day = first
        while day <= last:
            weight = 1.0 if day.weekday() in group.spec.days else 0.12
            for slot in range(slots):
                start = _native_start(group, zone, day, slot)
                if world.anchor <= start < world.end:
                    rank = _u("mu-keep", world.seed, group.slug, day, slot) / (weight * 0.25**slot)
                    candidates.append((rank, group, day, slot, start))
            day += dt.timedelta(days=1)
    candidates.sort(key=lambda c: c[0])
    return [
        _native_event(world, group, day, slot, start)
        for _, group, day, slot, start in candidates[:count]
    ]


def _native_start(group: _Group, zone: ZoneInfo, day: dt.date, slot: int) -> dt.datetime:
    hhmm = group.spec.weekend_time if day.weekday() >= 5 else group.spec.weekday_time
    hour, minute = map(int, hhmm.split(":"))
    total = hour * 60 + minute + slot * 150
    if total > 22 * 60:
        total = hour * 60 + minute - slot * 180
    total = max(7 * 60, total)
    return dt.datetime.combine(day, dt.time(total // 60, total % 60), tzinfo=zone)


def _native_event(
    world: World, group: _Group, day: dt.date, slot: int, start: dt.datetime
) -> MeetupEvent:
    spec = group.spec
    key = f"{world.seed}:{world.city.slug}:meetup:{group.slug}:{day.isoformat()}:{slot}"
    rng = _rng(key)
    topic = rng.choice(spec.subjects)
    title = rng.choice(spec.titles).format(topic=topic, city=world.city.name)
    u = rng.random()
    if u < spec.online:
        event_type = "ONLINE"
    elif u < spec.online + spec.hybrid:
        event_type = "HYBRID"
    else:
        event_type = "PHYSICAL"
    venue = None
    if event_type != "ONLINE":
        venue = group.hosts[0] if rng.random() < 0.8 else rng.choice(group.hosts)
    minutes = max(45, spec.minutes + rng.choice((-30, 0, 0, 0, 30)))
    fee = None
    if rng.random() < spec.fee:
        low, high = spec.fee_range
        fee = float(round(rng.uniform(low, high)))
    status_u = rng.random()
    status = "CANCELLED" if status_u < 0.02 else "CANCELLED_PERM" if status_u < 0.025 else "ACTIVE"
    yes = max(1, int(spec.size * rng.uniform(0.2, 1.4)))
    capacity = rng.choice((0, 0, spec.size, spec.size * 2))
    waitlist = rng.randrange(1, 15) if capacity and yes >= capacity else 0
    if capacity:
        yes = min(yes, capacity)
    return MeetupEvent(
        key=key,
        token=_token(key),
        group=group,
        title=title,
        description=_description(rng, group, title, topic, venue, event_type, start),
        start=start,
        minutes=minutes,
        end_known=rng.random() >= 0.08,
        event_type=event_type,
        venue=venue,
        status=status,
        fee=fee,
        currency=_CURRENCY.get(world.city.country, "USD"),
        yes=yes,
        waitlist=waitlist,
        max_tickets=capacity,
        photo=rng.random() < 0.75,
        recurring=spec.recurring and rng.random() < 0.7,
        created=(start - dt.timedelta(days=rng.randrange(5, 60))).replace(
            minute=rng.randrange(60), second=rng.randrange(60)
        ),
    )


def _description(
    rng: random.Random,
    group: _Group,
    title: str,
    topic: str,
    venue: Venue | None,
    event_type: str,
    start: dt.datetime,
) -> str:
    lines = [f"**{title}**", ""]
    lines.append("**Agenda**")
    lines.append(f"* {start.strftime('%H:%M')} Doors & welcome")
    lines.append(f"* {topic.capitalize() if topic.islower() else topic}")
    lines.append("* Q&A and mingling")
    lines.append("")
    if event_type == "ONLINE":
        lines.append("This is an online event: the link is visible to attendees after you RSVP.")
    elif event_type == "HYBRID":
        lines.append(f"Join us at {venue.name if venue else 'the venue'} or online.")
    elif venue is not None:
        lines.append(f"We meet at {venue.name}. {rng.choice(_FIND_US)}")
    if rng.random() < 0.3:
        lines.append("")
        lines.append(
            f"New here? Read our [code of conduct](https://www.meetup.com/{group.urlname}/)."
        )
    if rng.random() < 0.2:
        lines.append("See you there! 🎉")
    return "\n".join(lines)


_FIND_US = (
    "Look for the sign at the front desk.",
    "We'll be in the side room on the 2nd floor.",
    "Ask the staff for the Meetup group.",
    "Doors close 15 minutes after the start.",
)


def _outings(
    world: World, groups: list[_Group], dated: list[SandboxEvent], count: int
) -> list[MeetupEvent]:
    by_kind: dict[str, _Group] = {}
    for group in groups:
        for kind in group.spec.outings:
            by_kind.setdefault(kind, group)
    eligible = [
        e
        for e in dated
        if e.venue.kind in by_kind
        and e.category in _OUTING_CATEGORIES
        and not e.date_only
        and not e.time_tba
        and e.end is None
    ]
    eligible.sort(key=lambda e: _u("mu-outing", world.seed, e.key))
    return [_outing(world, by_kind[e.venue.kind], e) for e in eligible[:count]]


def _outing(world: World, group: _Group, event: SandboxEvent) -> MeetupEvent:
    key = f"meetup-outing:{event.key}"
    rng = _rng(key)
    assert event.start is not None
    start = event.start.astimezone(ZoneInfo(group.zone))
    early = rng.random() < 0.15
    if early:
        start -= dt.timedelta(minutes=30)
    r = rng.random()
    if r < 0.4:
        title = event.title
    elif r < 0.65:
        title = f"Group outing: {event.title}"
    elif r < 0.85:
        title = f"{event.title} @ {event.venue.name}"
    else:
        title = f"Let's go see {event.title}!"
    lines = [
        f"Join fellow {group.spec.topic} fans for **{event.title}** at {event.venue.name}.",
        "",
        "Tickets are not included: buy yours from the venue and RSVP here so we can find you.",
    ]
    if early:
        lines.append("We meet in the lobby 30 minutes before the show.")
    status = "CANCELLED" if event.status == "cancelled" else "ACTIVE"
    minutes = rng.choice((90, 120, 150))
    return MeetupEvent(
        key=key,
        token=_token(key),
        group=group,
        title=title,
        description="\n".join(lines),
        start=start,
        minutes=minutes + (30 if early else 0),
        end_known=rng.random() >= 0.3,
        event_type="PHYSICAL",
        venue=event.venue,
        status=status,
        fee=None,
        currency=_CURRENCY.get(world.city.country, "USD"),
        yes=rng.randrange(3, 25),
        waitlist=0,
        max_tickets=rng.choice((0, 10, 20)),
        photo=rng.random() < 0.5,
        recurring=False,
        created=(start - dt.timedelta(days=rng.randrange(3, 40))).replace(second=rng.randrange(60)),
        outing_of=event.key,
    )


# ---------------------------------------------------------------------------
# Rendering (pure): Meetup events -> node dicts (without the unstable ``id``)


_ONLINE_VENUE = {
    "id": "26906060",
    "name": "Online event",
    "address": "",
    "city": "",
    "state": "",
    "postalCode": "",
    "country": "",
    "lat": ONLINE_LAT,
    "lon": ONLINE_LON,
    "venueType": "online",
}
_EXPAND = {"St": "Street", "Ave": "Avenue", "Blvd": "Boulevard", "Pl": "Place", "Rd": "Road"}


def _venue_json(venue: Venue, group: _Group) -> dict[str, Any]:
    """The venue as a group's organiser typed it in: names, addresses and pins vary."""
    rng = _rng("mu-venue", venue.key, group.slug)
    name = venue.name
    r = rng.random()
    if r < 0.15 and name.startswith("The "):
        name = name[4:]
    elif r < 0.3:
        name = f"{name} ({venue.locality})"
    address = venue.address
    r = rng.random()
    if r < 0.25:
        address = " ".join(_EXPAND.get(w, w) for w in address.split(" "))
    elif r < 0.45:
        tail = ", ".join(filter(None, (venue.locality, venue.region_code)))
        address = f"{address}, {tail}"
    state = (venue.region_code or "").lower() if rng.random() < 0.2 else (venue.region_code or "")
    postal = venue.postal_code
    if rng.random() < 0.03:
        state = rng.choice(("al", "meetup1"))
    if rng.random() < 0.02:
        postal = "meetup1"
    bearing = rng.uniform(0, 2 * math.pi)
    metres = rng.uniform(5, 45)
    lat = venue.lat + metres * math.cos(bearing) / 111_200
    lon = venue.lon + metres * math.sin(bearing) / (111_200 * math.cos(math.radians(venue.lat)))
    return {
        "id": str(20_000_000 + _h("mu-venue-id", venue.key, group.slug) % 9_000_000),
        "name": name,
        "address": address,
        "city": venue.locality,
        "state": state,
        "postalCode": postal,
        "country": venue.country_code.lower(),
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "venueType": "",
    }


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{rest}M" if rest else "")


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _photo(event: MeetupEvent, base_url: str) -> dict[str, Any] | None:
    if not event.photo:
        return None
    pid = str(500_000_000 + _h("mu-photo", event.key) % 99_000_000)
    base = f"{base_url}/img/meetup/"
    urls = {kind: f"{base}{pid}_{kind}_{w}x{h}.jpeg" for kind, (w, h) in _PHOTO_SIZES.items()}
    return {
        "id": pid,
        "baseUrl": base,
        "highResUrl": urls["highres"],
        "standardUrl": urls["standard"],
        "thumbUrl": urls["thumb"],
    }


def _group_json(group: _Group, base_url: str) -> dict[str, Any]:
    pid = str(400_000_000 + _h("mu-group-photo", group.slug) % 99_000_000)
    return {
        "id": group.id,
        "name": group.name,
        "urlname": group.urlname,
        "timezone": group.timezone,
        "city": group.hosts[0].locality if group.hosts else "",
        "country": group.hosts[0].country_code.lower() if group.hosts else "",
        "lat": group.lat,
        "lon": group.lon,
        "link": f"https://www.meetup.com/{group.urlname}/",
        "description": f"A friendly community for {group.spec.topic} in the area.",
        "keyGroupPhoto": {
            "id": pid,
            "baseUrl": f"{base_url}/img/meetup/",
            "highResUrl": f"{base_url}/img/meetup/{pid}_highres_1200x675.jpeg",
            "standardUrl": f"{base_url}/img/meetup/{pid}_standard_676x380.jpeg",
            "thumbUrl": f"{base_url}/img/meetup/{pid}_thumb_272x153.jpeg",
        },
    }


def render_node(event: MeetupEvent, base_url: str) -> dict[str, Any]:
    """The gql-ext ``Event`` object of one event, every documented field, without ``id``."""
    if event.event_type == "ONLINE":
        venues = [dict(_ONLINE_VENUE)]
    elif event.event_type == "HYBRID":
        assert event.venue is not None
        venues = [_venue_json(event.venue, event.group), dict(_ONLINE_VENUE)]
    else:
        assert event.venue is not None
        venues = [_venue_json(event.venue, event.group)]
    end = event.start + dt.timedelta(minutes=event.minutes)
    fee = None
    if event.fee is not None:
        fee = {
            "amount": event.fee,
            "currency": event.currency,
            "required": True,
            "accepts": "CARD",
            "refundPolicy": None,
        }
    return {
        "token": event.token,
        "title": event.title,
        "description": event.description,
        "dateTime": _iso(event.start),
        "endTime": _iso(end) if event.end_known else None,
        "duration": _duration(event.minutes),
        "createdTime": _iso(event.created),
        "status": event.status,
        "eventType": event.event_type,
        "eventUrl": f"https://www.meetup.com/{event.group.urlname}/events/{event.token}/",
        "venues": venues,
        "featuredEventPhoto": _photo(event, base_url),
        "feeSettings": fee,
        "rsvps": {
            "totalCount": event.yes + event.waitlist,
            "yesCount": event.yes,
            "waitlistCount": event.waitlist,
        },
        "maxTickets": event.max_tickets,
        "howToFindUs": None if event.venue is None else _FIND_US[_h(event.key) % len(_FIND_US)],
        "group": _group_json(event.group, base_url),
        "topics": None,
        "series": None,
    }


# ---------------------------------------------------------------------------
# GraphQL: a lexer, a parser and a schema sketch of the documented types


class GraphQLError(Exception):
    """One entry of the response's ``errors``."""

    def __init__(
        self, message: str, location: tuple[int, int] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.code = code

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.location is not None:
            out["locations"] = [{"line": self.location[0], "column": self.location[1]}]
        if self.code is not None:
            out["extensions"] = {"code": self.code}
        return out


_TOKEN_RE = re.compile(
    r"""
     (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
    |(?P<block>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\")
    |(?P<string>"(?:[^"\\\n\r]|\\.)*")
    |(?P<spread>\.\.\.)
    |(?P<punct>[!$&():=@\[\]{|}])
    |(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)


@attrs.frozen
class _Tok:
    kind: str  # punct | name | number | string | spread | eof
    value: Any
    pos: int


@attrs.frozen
class _Field:
    alias: str | None
    name: str
    args: dict[str, Any]  # name -> value AST
    directives: tuple[tuple[str, dict[str, Any]], ...]
    selections: tuple[Any, ...] | None
    pos: int

    @property
    def key(self) -> str:
        return self.alias or self.name


@attrs.frozen
class _Spread:
    name: str
    directives: tuple[tuple[str, dict[str, Any]], ...]
    pos: int


@attrs.frozen
class _Inline:
    on: str | None
    directives: tuple[tuple[str, dict[str, Any]], ...]
    selections: tuple[Any, ...]
    pos: int


@attrs.frozen
class _Operation:
    kind: str
    name: str | None
    variables: dict[str, tuple[str, Any, int]]  # name -> (type, default AST or _MISSING, pos)
    selections: tuple[Any, ...]
    pos: int


@attrs.frozen
class _Fragment:
    name: str
    on: str
    selections: tuple[Any, ...]
    pos: int


_MISSING = object()


class _Parser:
    """Recursive descent over the GraphQL executable-document grammar."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = list(self._lex(source))
        self.i = 0

    def _lex(self, source: str) -> Iterable[_Tok]:
        pos = 0
        while pos < len(source):
            match = _TOKEN_RE.match(source, pos)
            if match is None:
                raise GraphQLError(
                    f"Syntax Error: Unexpected character: {source[pos]!r}.",
                    self.location(pos),
                    "GRAPHQL_PARSE_FAILED",
                )
            kind = match.lastgroup
            text = match.group()
            if kind == "block":
                yield _Tok(
                    "string", textwrap.dedent(text[3:-3].replace('\\"""', '"""')).strip(), pos
                )
            elif kind == "string":
                try:
                    yield _Tok("string", json.loads(text), pos)
                except ValueError:
                    raise GraphQLError(
                        "Syntax Error: Invalid string.", self.location(pos), "GRAPHQL_PARSE_FAILED"
                    ) from None
            elif kind == "number":
                yield _Tok("number", text, pos)
            elif kind != "skip":
                yield _Tok(kind or "punct", text, pos)
            pos = match.end()
        yield _Tok("eof", "<EOF>", pos)

    def location(self, pos: int) -> tuple[int, int]:
        line = self.source.count("\n", 0, pos) + 1
        column = pos - (self.source.rfind("\n", 0, pos) + 1) + 1
        return line, column

    # -- helpers ----------------------------------------------------------

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def _fail(self, tok: _Tok | None = None) -> GraphQLError:
        tok = tok or self.tok
        shown = "<EOF>" if tok.kind == "eof" else json.dumps(str(tok.value))
        return GraphQLError(
            f"Syntax Error: Unexpected {shown}.", self.location(tok.pos), "GRAPHQL_PARSE_FAILED"
        )

    def _peek(self, value: str) -> bool:
        return self.tok.kind in ("punct", "spread") and self.tok.value == value

    def _expect(self, value: str) -> _Tok:
        if not self._peek(value):
            raise self._fail()
        tok = self.tok
        self.i += 1
        return tok

    def _name(self) -> str:
        tok = self.tok
        if tok.kind != "name":
            raise self._fail()
        self.i += 1
        return str(tok.value)

    # -- grammar ----------------------------------------------------------

    def document(self) -> tuple[list[_Operation], dict[str, _Fragment]]:
        operations: list[_Operation] = []
        fragments: dict[str, _Fragment] = {}
        if self.tok.kind == "eof":
            raise self._fail()
        while self.tok.kind != "eof":
            tok = self.tok
            if self._peek("{"):
                operations.append(_Operation("query", None, {}, self._selections(), tok.pos))
            elif tok.kind == "name" and tok.value in ("query", "mutation", "subscription"):
                operations.append(self._operation())
            elif tok.kind == "name" and tok.value == "fragment":
                self.i += 1
                name = self._name()
                if name == "on":
                    raise self._fail(self.tokens[self.i - 1])
                if self._name() != "on":
                    raise self._fail(self.tokens[self.i - 1])
                on = self._name()
                self._directives()
                fragments[name] = _Fragment(name, on, self._selections(), tok.pos)
            else:
                raise self._fail()
        return operations, fragments

    def _operation(self) -> _Operation:
        tok = self.tok
        kind = self._name()
        name = self._name() if self.tok.kind == "name" else None
        variables: dict[str, tuple[str, Any, int]] = {}
        if self._peek("("):
            self.i += 1
            while not self._peek(")"):
                pos = self._expect("$").pos
                var = self._name()
                self._expect(":")
                type_ = self._type()
                default = _MISSING
                if self._peek("="):
                    self.i += 1
                    default = self._value(const=True)
                self._directives()
                variables[var] = (type_, default, pos)
            self.i += 1
        self._directives()
        return _Operation(kind, name, variables, self._selections(), tok.pos)

    def _type(self) -> str:
        if self._peek("["):
            self.i += 1
            inner = self._type()
            self._expect("]")
            out = f"[{inner}]"
        else:
            out = self._name()
        if self._peek("!"):
            self.i += 1
            out += "!"
        return out

    def _selections(self) -> tuple[Any, ...]:
        self._expect("{")
        out: list[Any] = []
        while not self._peek("}"):
            if self.tok.kind == "eof":
                raise self._fail()
            out.append(self._selection())
        self.i += 1
        if not out:
            raise self._fail(self.tokens[self.i - 1])
        return tuple(out)

    def _selection(self) -> Any:
        tok = self.tok
        if self._peek("..."):
            self.i += 1
            if self.tok.kind == "name" and self.tok.value != "on":
                return _Spread(self._name(), self._directives(), tok.pos)
            on = None
            if self.tok.kind == "name":
                self.i += 1
                on = self._name()
            return _Inline(on, self._directives(), self._selections(), tok.pos)
        name = self._name()
        alias = None
        if self._peek(":"):
            self.i += 1
            alias, name = name, self._name()
        args = self._arguments()
        directives = self._directives()
        selections = self._selections() if self._peek("{") else None
        return _Field(alias, name, args, directives, selections, tok.pos)

    def _arguments(self, *, const: bool = False) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self._peek("("):
            self.i += 1
            while not self._peek(")"):
                name = self._name()
                self._expect(":")
                args[name] = self._value(const=const)
            self.i += 1
        return args

    def _directives(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        out = []
        while self._peek("@"):
            self.i += 1
            out.append((self._name(), self._arguments()))
        return tuple(out)

    def _value(self, *, const: bool = False) -> Any:
        tok = self.tok
        if self._peek("$") and not const:
            self.i += 1
            return ("var", self._name(), tok.pos)
        if tok.kind == "number":
            self.i += 1
            text = str(tok.value)
            return ("const", float(text) if any(c in text for c in ".eE") else int(text))
        if tok.kind == "string":
            self.i += 1
            return ("const", tok.value)
        if tok.kind == "name":
            self.i += 1
            if tok.value in ("true", "false"):
                return ("const", tok.value == "true")
            if tok.value == "null":
                return ("const", None)
            return ("enum", tok.value)
        if self._peek("["):
            self.i += 1
            items = []
            while not self._peek("]"):
                if self.tok.kind == "eof":
                    raise self._fail()
                items.append(self._value(const=const))
            self.i += 1
            return ("list", items)
        if self._peek("{"):
            self.i += 1
            fields = {}
            while not self._peek("}"):
                name = self._name()
                self._expect(":")
                fields[name] = self._value(const=const)
            self.i += 1
            return ("object", fields)
        raise self._fail()


# Output types: field -> (type, arguments or None for "any, ignored").
_OPAQUE = "_Opaque"
_SCHEMA: dict[str, dict[str, tuple[str, dict[str, str] | None]]] = {
    "Query": {
        "eventSearch": (
            "EventSearchConnection!",
            {
                "filter": "EventSearchFilter!",
                "first": "Int",
                "after": "String",
                "sort": "KeywordSort",
                "dataConfiguration": "String",
            },
        ),
        "recommendedEvents": (
            "RecommendedEventsConnection!",
            {
                "filter": "RecommendedEventsFilter!",
                "first": "Int",
                "after": "String",
                "sort": "RecommendedEventsSort",
            },
        ),
        "event": ("Event", {"id": "ID!"}),
        "groupByUrlname": (_OPAQUE, {"urlname": "String!"}),
        "groupSearch": (_OPAQUE, None),
        "self": (_OPAQUE, None),
    },
    "EventSearchConnection": {
        "totalCount": ("Int!", {}),
        "pageInfo": ("PageInfo!", {}),
        "edges": ("[EventSearchEdge!]!", {}),
    },
    "RecommendedEventsConnection": {
        "totalCount": ("Int!", {}),
        "pageInfo": ("PageInfo!", {}),
        "edges": ("[RecommendedEventsEdge!]!", {}),
    },
    "EventSearchEdge": {"cursor": ("String!", {}), "node": ("Event!", {})},
    "RecommendedEventsEdge": {"cursor": ("String!", {}), "node": ("Event!", {})},
    "PageInfo": {
        "hasNextPage": ("Boolean!", {}),
        "hasPreviousPage": ("Boolean!", {}),
        "startCursor": ("String", {}),
        "endCursor": ("String", {}),
    },
    "Event": {
        "id": ("ID!", {}),
        "token": ("ID!", {}),
        "title": ("String!", {}),
        "description": ("String!", {}),
        "dateTime": ("DateTime", {}),
        "endTime": ("DateTime", {}),
        "duration": ("Duration", {}),
        "createdTime": ("DateTime", {}),
        "status": ("EventStatus", {}),
        "eventType": ("EventType", {}),
        "eventUrl": ("String!", {}),
        "venues": ("[Venue!]", {}),
        "featuredEventPhoto": ("PhotoInfo", {}),
        "feeSettings": ("EventFeeSettings", {}),
        "rsvps": ("RsvpConnection", None),
        "maxTickets": ("Int", {}),
        "howToFindUs": ("String", {}),
        "group": ("Group", {}),
        "topics": (_OPAQUE, None),
        "series": (_OPAQUE, None),
    },
    "Venue": {
        "id": ("ID!", {}),
        "name": ("String", {}),
        "address": ("String", {}),
        "city": ("String", {}),
        "state": ("String", {}),
        "postalCode": ("String", {}),
        "country": ("String", {}),
        "lat": ("Float", {}),
        "lon": ("Float", {}),
        "venueType": ("String", {}),
    },
    "PhotoInfo": {
        "id": ("ID!", {}),
        "baseUrl": ("String", {}),
        "highResUrl": ("String", {}),
        "standardUrl": ("String", {}),
        "thumbUrl": ("String", {}),
    },
    "EventFeeSettings": {
        "amount": ("Float!", {}),
        "currency": ("String", {}),
        "required": ("Boolean!", {}),
        "accepts": ("String", {}),
        "refundPolicy": (_OPAQUE, None),
    },
    "RsvpConnection": {
        "totalCount": ("Int!", {}),
        "yesCount": ("Int!", {}),
        "waitlistCount": ("Int!", {}),
        "edges": (_OPAQUE, None),
    },
    "Group": {
        "id": ("ID!", {}),
        "name": ("String", {}),
        "urlname": ("String!", {}),
        "timezone": ("String", {}),
        "city": ("String", {}),
        "country": ("String", {}),
        "lat": ("Float", {}),
        "lon": ("Float", {}),
        "link": ("String", {}),
        "description": ("String", {}),
        "keyGroupPhoto": ("PhotoInfo", {}),
    },
}
_SCALARS = frozenset(
    {"Int", "Float", "String", "Boolean", "ID", "DateTime", "Duration", "EventStatus", "EventType"}
)
_INPUTS: dict[str, dict[str, str]] = {
    "EventSearchFilter": {
        "query": "String!",
        "lat": "Float!",
        "lon": "Float!",
        "radius": "Float",
        "startDateRange": "DateTime",
        "endDateRange": "DateTime",
        "startTime": "String",
        "endTime": "String",
        "eventType": "EventType",
        "categoryId": "ID",
        "topicCategoryId": "ID",
        "city": "String",
        "state": "String",
        "country": "String",
        "zip": "String",
        "isHappeningNow": "Boolean",
        "isStartingSoon": "Boolean",
        "doConsolidateEvents": "Boolean",
    },
    "RecommendedEventsFilter": {
        "lat": "Float",
        "lon": "Float",
        "radius": "Float",
        "startDateRange": "String",
        "endDateRange": "String",
        "eventType": "EventType",
        "topicCategoryId": "ID",
        "categoryId": "ID",
        "groupList": "[ID]",
        "topicList": "[ID]",
        "penalizeOnlineEvents": "Boolean",
        "city": "String",
        "state": "String",
        "country": "String",
        "zip": "String",
        "doConsolidateEvents": "Boolean",
    },
    "KeywordSort": {"sortField": "KeywordSortField", "sortOrder": "SortOrder"},
    "RecommendedEventsSort": {"sortField": "RecommendedEventsSortField", "sortOrder": "SortOrder"},
}
_ENUMS: dict[str, frozenset[str]] = {
    "EventType": frozenset({"PHYSICAL", "ONLINE", "HYBRID"}),
    "KeywordSortField": frozenset({"RELEVANCE", "DATETIME"}),
    "RecommendedEventsSortField": frozenset({"DATETIME", "RELEVANCE"}),
    "SortOrder": frozenset({"ASC", "DESC"}),
}
_INPUT_SCALARS = frozenset({"Int", "Float", "String", "Boolean", "ID", "DateTime"})
_NOT_EMULATED = frozenset({"groupByUrlname", "groupSearch", "self"})


def _named(type_: str) -> str:
    return type_.strip("[]!")


class _CoerceError(Exception):
    pass


def _coerce(value: Any, type_: str, path: str) -> Any:
    """An input value (JSON-like, enums as strings) checked and converted to ``type_``."""
    if type_.endswith("!"):
        if value is None:
            raise _CoerceError(f'Expected non-nullable type "{type_}" not to be null at "{path}".')
        type_ = type_[:-1]
    if value is None:
        return None
    if type_.startswith("["):
        inner = type_[1:-1]
        items = value if isinstance(value, list) else [value]
        return [_coerce(item, inner, f"{path}[{i}]") for i, item in enumerate(items)]
    if type_ in _INPUTS:
        if not isinstance(value, dict):
            raise _CoerceError(f'Expected type "{type_}" to be an object at "{path}".')
        fields = _INPUTS[type_]
        for name in value:
            if name not in fields:
                raise _CoerceError(f'Field "{name}" is not defined by type "{type_}" at "{path}".')
        out = {}
        for name, field_type in fields.items():
            if name in value:
                out[name] = _coerce(value[name], field_type, f"{path}.{name}")
            elif field_type.endswith("!"):
                raise _CoerceError(
                    f'Field "{name}" of required type "{field_type}" was not provided at "{path}".'
                )
        return out
    if type_ in _ENUMS:
        if not isinstance(value, str) or value not in _ENUMS[type_]:
            raise _CoerceError(
                f'Value {json.dumps(value)} does not exist in "{type_}" enum at "{path}".'
            )
        return value
    return _coerce_scalar(value, type_, path)


def _coerce_scalar(value: Any, type_: str, path: str) -> Any:
    shown = json.dumps(value)
    if type_ == "Int":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
            raise _CoerceError(f'Int cannot represent non-integer value: {shown} at "{path}".')
        return value
    if type_ == "Float":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _CoerceError(f'Float cannot represent non numeric value: {shown} at "{path}".')
        return float(value)
    if type_ == "String":
        if not isinstance(value, str):
            raise _CoerceError(f'String cannot represent a non string value: {shown} at "{path}".')
        return value
    if type_ == "Boolean":
        if not isinstance(value, bool):
            raise _CoerceError(
                f'Boolean cannot represent a non boolean value: {shown} at "{path}".'
            )
        return value
    if type_ == "ID":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _CoerceError(f'ID cannot represent value: {shown} at "{path}".')
        return str(value)
    if type_ == "DateTime":
        if not isinstance(value, str):
            raise _CoerceError(f'DateTime cannot represent value: {shown} at "{path}".')
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _CoerceError(f'DateTime cannot represent value: {shown} at "{path}".') from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise _CoerceError(f'Unknown type "{type_}".')


def _compatible(var_type: str, expected: str) -> bool:
    """May a variable of ``var_type`` be used where ``expected`` is (GraphQL's rule)?"""
    if expected.endswith("!"):
        return var_type.endswith("!") and _compatible(var_type[:-1], expected[:-1])
    var_type = var_type.removesuffix("!")
    if expected.startswith("["):
        return var_type.startswith("[") and _compatible(var_type[1:-1], expected[1:-1])
    return var_type == expected


class _Request:
    """One parsed and validated operation, ready to execute."""

    def __init__(
        self,
        source: str,
        variables: dict[str, Any],
        operation_name: str | None,
    ) -> None:
        parser = _Parser(source)
        operations, self.fragments = parser.document()
        self.parser = parser
        if operation_name is not None:
            chosen = [op for op in operations if op.name == operation_name]
            if not chosen:
                raise GraphQLError(f'Unknown operation named "{operation_name}".')
        elif len(operations) > 1:
            raise GraphQLError("Must provide operation name if query contains multiple operations.")
        else:
            chosen = operations
        if not chosen:
            raise GraphQLError("Must provide an operation.")
        self.operation = chosen[0]
        if self.operation.kind != "query":
            raise GraphQLError(
                f"Schema is not configured to execute {self.operation.kind} operation.",
                parser.location(self.operation.pos),
            )
        self.variables = self._variables(variables)
        self._validate(self.operation.selections, "Query", set())

    def loc(self, pos: int) -> tuple[int, int]:
        return self.parser.location(pos)

    # -- variables --------------------------------------------------------

    def _variables(self, provided: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (type_, default, pos) in self.operation.variables.items():
            named = _named(type_)
            if named not in _INPUT_SCALARS and named not in _INPUTS and named not in _ENUMS:
                raise GraphQLError(
                    f'Unknown type "{named}".', self.loc(pos), "GRAPHQL_VALIDATION_FAILED"
                )
            if name in provided:
                value = provided[name]
            elif default is not _MISSING:
                value = self._const(default)
            elif type_.endswith("!"):
                raise GraphQLError(
                    f'Variable "${name}" of required type "{type_}" was not provided.',
                    self.loc(pos),
                    "BAD_USER_INPUT",
                )
            else:
                continue
            try:
                out[name] = _coerce(value, type_, name)
            except _CoerceError as bad:
                raise GraphQLError(
                    f'Variable "${name}" got invalid value {json.dumps(value, default=str)}; {bad}',
                    self.loc(pos),
                    "BAD_USER_INPUT",
                ) from None
        return out

    def _const(self, ast: Any) -> Any:
        kind = ast[0]
        if kind in ("const", "enum"):
            return ast[1]
        if kind == "list":
            return [self._const(item) for item in ast[1]]
        if kind == "object":
            return {k: self._const(v) for k, v in ast[1].items()}
        raise GraphQLError("Variables are not allowed in default values.")

    def value(self, ast: Any, expected: str, where: str) -> Any:
        """An argument's value: variables substituted and checked, literals coerced."""
        if ast[0] == "var":
            name, pos = ast[1], ast[2]
            if name not in self.operation.variables:
                raise GraphQLError(f'Variable "${name}" is not defined.', self.loc(pos))
            declared = self.operation.variables[name][0]
            if not _compatible(declared, expected):
                raise GraphQLError(
                    f'Variable "${name}" of type "{declared}" used in position expecting type '
                    f'"{expected}".',
                    self.loc(pos),
                    "GRAPHQL_VALIDATION_FAILED",
                )
            return self.variables.get(name)
        raw = self._literal(ast)
        try:
            return _coerce(raw, expected, where)
        except _CoerceError as bad:
            raise GraphQLError(
                f'Argument "{where}" has invalid value {json.dumps(raw, default=str)}: {bad}',
                code="GRAPHQL_VALIDATION_FAILED",
            ) from None

    def _literal(self, ast: Any) -> Any:
        kind = ast[0]
        if kind in ("const", "enum"):
            return ast[1]
        if kind == "var":
            return self.variables.get(ast[1])
        if kind == "list":
            return [self._literal(item) for item in ast[1]]
        return {k: self._literal(v) for k, v in ast[1].items()}

    # -- validation -------------------------------------------------------

    def _validate(self, selections: Sequence[Any], type_name: str, seen: set[str]) -> None:
        fields = _SCHEMA[type_name]
        for sel in selections:
            if isinstance(sel, _Spread):
                fragment = self.fragments.get(sel.name)
                if fragment is None:
                    raise GraphQLError(f'Unknown fragment "{sel.name}".', self.loc(sel.pos))
                if sel.name in seen:
                    raise GraphQLError(f'Cannot spread fragment "{sel.name}" within itself.')
                self._check_on(fragment.on, type_name, fragment.pos)
                self._validate(fragment.selections, type_name, seen | {sel.name})
                continue
            if isinstance(sel, _Inline):
                if sel.on is not None:
                    self._check_on(sel.on, type_name, sel.pos)
                self._validate(sel.selections, type_name, seen)
                continue
            if sel.name == "__typename":
                if sel.selections is not None:
                    raise GraphQLError(
                        'Field "__typename" must not have a selection since type "String!" has '
                        "no subfields.",
                        self.loc(sel.pos),
                        "GRAPHQL_VALIDATION_FAILED",
                    )
                continue
            spec = fields.get(sel.name)
            if spec is None:
                raise GraphQLError(
                    f'Cannot query field "{sel.name}" on type "{type_name}".',
                    self.loc(sel.pos),
                    "GRAPHQL_VALIDATION_FAILED",
                )
            field_type, args = spec
            if args is not None:
                for arg in sel.args:
                    if arg not in args:
                        raise GraphQLError(
                            f'Unknown argument "{arg}" on field "{type_name}.{sel.name}".',
                            self.loc(sel.pos),
                            "GRAPHQL_VALIDATION_FAILED",
                        )
                for arg, arg_type in args.items():
                    if arg_type.endswith("!") and arg not in sel.args:
                        raise GraphQLError(
                            f'Field "{sel.name}" argument "{arg}" of type "{arg_type}" is '
                            "required, but it was not provided.",
                            self.loc(sel.pos),
                            "GRAPHQL_VALIDATION_FAILED",
                        )
            named = _named(field_type)
            if named == _OPAQUE:
                continue
            if named in _SCHEMA:
                if sel.selections is None:
                    raise GraphQLError(
                        f'Field "{sel.name}" of type "{field_type}" must have a selection of '
                        f'subfields. Did you mean "{sel.name} {{ ... }}"?',
                        self.loc(sel.pos),
                        "GRAPHQL_VALIDATION_FAILED",
                    )
                self._validate(sel.selections, named, seen)
            elif sel.selections is not None:
                raise GraphQLError(
                    f'Field "{sel.name}" must not have a selection since type "{field_type}" '
                    "has no subfields.",
                    self.loc(sel.pos),
                    "GRAPHQL_VALIDATION_FAILED",
                )

    def _check_on(self, on: str, type_name: str, pos: int) -> None:
        if on not in _SCHEMA:
            raise GraphQLError(f'Unknown type "{on}".', self.loc(pos), "GRAPHQL_VALIDATION_FAILED")
        if on != type_name:
            raise GraphQLError(
                f'Fragment cannot be spread here as objects of type "{type_name}" can never be '
                f'of type "{on}".',
                self.loc(pos),
                "GRAPHQL_VALIDATION_FAILED",
            )

    # -- execution helpers ------------------------------------------------

    def _included(self, directives: Sequence[tuple[str, dict[str, Any]]]) -> bool:
        for name, args in directives:
            if name in ("skip", "include") and "if" in args:
                flag = self.value(args["if"], "Boolean!", f"@{name}(if:)")
                if (name == "skip" and flag) or (name == "include" and not flag):
                    return False
        return True

    def collect(self, selections: Sequence[Any]) -> list[_Field]:
        """The fields of a selection set, fragments expanded, @skip/@include applied."""
        out: list[_Field] = []
        for sel in selections:
            if not self._included(sel.directives):
                continue
            if isinstance(sel, _Field):
                out.append(sel)
            elif isinstance(sel, _Spread):
                out.extend(self.collect(self.fragments[sel.name].selections))
            else:
                out.extend(self.collect(sel.selections))
        return out

    def project(self, value: Any, type_: str, selections: Sequence[Any] | None) -> Any:
        """``value`` (plain JSON) shaped by the selection, as GraphQL completes it."""
        if value is None:
            return None
        named = type_.removesuffix("!")
        if named.startswith("["):
            return [self.project(item, named[1:-1], selections) for item in value]
        if named == _OPAQUE or named not in _SCHEMA or selections is None:
            return value if named != _OPAQUE else None
        out: dict[str, Any] = {}
        grouped: dict[str, list[_Field]] = collections.defaultdict(list)
        for field in self.collect(selections):
            grouped[field.key].append(field)
        for key, fields in grouped.items():
            first = fields[0]
            if first.name == "__typename":
                out[key] = named
                continue
            field_type = _SCHEMA[named][first.name][0]
            merged: tuple[Any, ...] | None = None
            if first.selections is not None:
                merged = tuple(s for f in fields for s in (f.selections or ()))
            out[key] = self.project(value.get(first.name), field_type, merged)
        return out


# ---------------------------------------------------------------------------
# Searching


@attrs.frozen
class _Search:
    kind: str  # "eventSearch" | "recommendedEvents"
    words: tuple[str, ...]
    geo: tuple[float, float, float] | None  # lat, lon, radius km
    city: str | None
    start: float | None
    end: float | None
    event_type: str | None
    consolidate: bool
    sort: str  # RELEVANCE | DATETIME


class _Index:
    """Every event pre-rendered (without ``id``) with what its searches need."""

    def __init__(self, events: Sequence[MeetupEvent], base_url: str) -> None:
        self.events = tuple(events)
        self.nodes = [render_node(e, base_url) for e in self.events]
        self.instants = [e.instant.timestamp() for e in self.events]
        self.geo = [e.geo for e in self.events]
        self.words = [
            _words(f"{e.title} {e.description}")
            | _words(e.group.name)
            | frozenset(_stem(w) for w in e.group.spec.words)
            for e in self.events
        ]
        self.title_words = [_words(e.title) for e in self.events]
        self.cities = [(e.venue.locality if e.venue else "").casefold() for e in self.events]
        self.series = [f"{e.group.slug}:{e.title}" if e.recurring else e.token for e in self.events]
        self.by_token = {e.token: i for i, e in enumerate(self.events)}
        self.popularity = [_u("mu-rank", e.token) * (1 + e.yes / 50) for e in self.events]
        self._cache: collections.OrderedDict[_Search, list[int]] = collections.OrderedDict()

    def match(self, search: _Search) -> list[int]:
        """Positions of the events a search finds, in its order (cached, bounded)."""
        hit = self._cache.get(search)
        if hit is not None:
            self._cache.move_to_end(search)
            return hit
        picked = self._match(search)
        self._cache[search] = picked
        if len(self._cache) > 256:
            self._cache.popitem(last=False)
        return picked

    def _match(self, q: _Search) -> list[int]:
        picked = list(range(len(self.events)))
        if q.start is not None:
            picked = [i for i in picked if self.instants[i] >= q.start]
        if q.end is not None:
            picked = [i for i in picked if self.instants[i] <= q.end]
        if q.event_type is not None:
            picked = [i for i in picked if self.events[i].event_type == q.event_type]
        if q.geo is not None:
            lat, lon, radius = q.geo
            picked = [i for i in picked if distance_km(lat, lon, *self.geo[i]) <= radius]
        elif q.city:
            city = q.city.casefold()
            picked = [i for i in picked if self.cities[i] == city or self.events[i].venue is None]
        scores: dict[int, float] = {}
        if q.words:
            words = set(q.words)
            for i in picked:
                hits = len(words & self.words[i])
                if hits:
                    scores[i] = hits + len(words & self.title_words[i]) + self.popularity[i] / 10
            picked = [i for i in picked if i in scores]
        if q.consolidate:
            seen: set[str] = set()
            first: list[int] = []
            for i in sorted(picked, key=self.instants.__getitem__):
                if self.series[i] not in seen:
                    seen.add(self.series[i])
                    first.append(i)
            picked = first
        if q.sort == "DATETIME":
            return sorted(picked, key=lambda i: (self.instants[i], self.events[i].token))
        if q.words:
            return sorted(picked, key=lambda i: (-scores[i], self.events[i].token))
        return sorted(picked, key=lambda i: (-self.popularity[i], self.events[i].token))


def _cursor(event: MeetupEvent) -> str:
    raw = f"{event.token}:{int(event.instant.timestamp() * 1000)}".encode()
    return base64.b64encode(raw).decode()


def _search_from(kind: str, args: dict[str, Any]) -> _Search:
    flt = args.get("filter") or {}
    words: tuple[str, ...] = ()
    if kind == "eventSearch":
        query = flt.get("query", "")
        words = tuple(sorted(_words(query)))
        if not words:
            raise GraphQLError("The search query must not be empty.", code="BAD_USER_INPUT")
    lat, lon = flt.get("lat"), flt.get("lon")
    geo = None
    if lat is not None and lon is not None:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise GraphQLError("Invalid coordinates.", code="BAD_USER_INPUT")
        radius = flt.get("radius")
        radius = DEFAULT_RADIUS_MILES if radius is None else radius
        if radius <= 0:
            raise GraphQLError("The radius must be positive.", code="BAD_USER_INPUT")
        geo = (lat, lon, radius * _KM_PER_MILE)
    bounds = []
    for name in ("startDateRange", "endDateRange"):
        value = flt.get(name)
        if isinstance(value, str):  # recommendedEvents takes them as String
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                raise GraphQLError(
                    f'Invalid date for "{name}": {json.dumps(value)}', code="BAD_USER_INPUT"
                ) from None
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
        bounds.append(None if value is None else value.timestamp())
    sort = (args.get("sort") or {}).get("sortField") or "RELEVANCE"
    return _Search(
        kind=kind,
        words=words,
        geo=geo,
        city=flt.get("city") if geo is None else None,
        start=bounds[0],
        end=bounds[1],
        event_type=flt.get("eventType"),
        consolidate=bool(flt.get("doConsolidateEvents")),
        sort=sort,
    )


# ---------------------------------------------------------------------------
# Rate limit


class _Points:
    """``limit`` points per key in any sliding ``period`` seconds."""

    def __init__(self, limit: int, period: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.period = period
        self.clock = clock
        self._spent: dict[str, collections.deque[tuple[float, int]]] = collections.defaultdict(
            collections.deque
        )

    def spend(self, key: str, points: int) -> bool:
        """Spend ``points`` if the window has them left; False (nothing spent) otherwise."""
        now = self.clock()
        spent = self._spent[key]
        while spent and spent[0][0] <= now - self.period:
            spent.popleft()
        if sum(p for _, p in spent) + points > self.limit:
            return False
        spent.append((now, points))
        return True

    def wait(self, key: str) -> float:
        """Seconds until the oldest spending leaves the window."""
        spent = self._spent[key]
        return max(0.0, spent[0][0] + self.period - self.clock()) if spent else 0.0


# ---------------------------------------------------------------------------
# The API


def _respond(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(text, status_code=status, media_type=_JSON, headers=headers)


def _errors(*errors: GraphQLError, data: Any = None) -> dict[str, Any]:
    return {"errors": [e.as_json() for e in errors], "data": data}


class MeetupApi:
    """The emulated Meetup ``gql-ext`` endpoint for one world.

    Construct it, mount ``routes()`` under ``PREFIX`` and ``ALIASES``, then call
    ``publish(base_url)`` once the server's address is known (photo URLs point at the
    server); until then every request gets 503. ``publish`` is CPU-bound (builds and
    renders every event once): run it off the Trio thread. Limits are in-memory, per token.
    """

    name = NAME
    prefix = PREFIX
    aliases: Sequence[str] = ALIASES
    key = TOKEN

    def __init__(
        self,
        world: World,
        *,
        rate_limit: bool = True,
        results_cap: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.points = _Points(POINTS_PER_MINUTE, 60.0, monotonic) if rate_limit else None
        self.results_cap = results_cap
        self._wall = wall
        self._calls = itertools.count(1)
        self._index: _Index | None = None

    @property
    def events(self) -> tuple[MeetupEvent, ...]:
        """The events served (empty until published)."""
        return () if self._index is None else self._index.events

    def publish(self, base_url: str) -> None:
        """Build, render and index every event with photos under ``base_url``; then serve."""
        self._index = _Index(build_events(self.world), base_url.rstrip("/"))

    def routes(self) -> list[BaseRoute]:
        """``/`` under the prefix, and ``/gql-ext`` under the ``/meetup`` alias."""
        return [
            Route("/", self.graphql, methods=["POST"]),
            Route("/gql-ext", self.graphql, methods=["POST"]),
        ]

    # -- handler ----------------------------------------------------------

    async def graphql(self, request: Request) -> Response:
        """``POST`` a GraphQL operation."""
        index = self._index
        if index is None:
            return Response(b"sandbox starting", status_code=503, media_type="text/plain")
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != TOKEN:
            body = _errors(
                GraphQLError(
                    "Not authenticated: send a valid access token as 'Authorization: Bearer "
                    "<token>'.",
                    code="UNAUTHENTICATED",
                )
            )
            del body["data"]
            return _respond(body, 401, {"WWW-Authenticate": "Bearer"})
        try:
            payload = json.loads(await request.body())
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                raise ValueError("no query")
            variables = payload.get("variables") or {}
            if isinstance(variables, str):  # the guide's curl example sends a JSON string
                variables = json.loads(variables) if variables.strip() else {}
            if not isinstance(variables, dict):
                raise ValueError("variables")
            operation_name = payload.get("operationName") or None
        except ValueError:
            body = _errors(
                GraphQLError(
                    'The body must be JSON: {"query": "...", "variables": {...}}.',
                    code="BAD_REQUEST",
                )
            )
            del body["data"]
            return _respond(body, 400)
        return self._execute(index, payload["query"], variables, operation_name, TOKEN)

    def _execute(
        self,
        index: _Index,
        source: str,
        variables: dict[str, Any],
        operation_name: str | None,
        token: str,
    ) -> Response:
        call = next(self._calls)
        try:
            req = _Request(source, variables, operation_name)
            roots = req.collect(req.operation.selections)
        except GraphQLError as bad:
            if self.points is not None and not self.points.spend(token, 1):
                return self._limited(token)
            return _respond(_errors(bad))
        cost = max(1, sum(1 for f in roots if f.name != "__typename"))
        if self.points is not None and not self.points.spend(token, cost):
            return self._limited(token)
        data: dict[str, Any] = {}
        problems: list[GraphQLError] = []
        try:
            for field in roots:
                data[field.key] = self._root(index, req, field, call, problems)
        except GraphQLError as bad:
            return _respond(_errors(bad))
        body: dict[str, Any] = {"data": data}
        if problems:
            body = {"errors": [p.as_json() for p in problems], "data": data}
        return _respond(body)

    def _limited(self, token: str) -> Response:
        assert self.points is not None
        reset = dt.datetime.fromtimestamp(self._wall() + max(self.points.wait(token), 1.0), UTC)
        error = {
            "message": "Too many requests, please try again shortly.",
            "extensions": {
                "code": "RATE_LIMITED",
                "consumedPoints": POINTS_PER_MINUTE,
                "resetAt": reset.isoformat(timespec="seconds").replace("+00:00", "Z"),
            },
        }
        return _respond({"errors": [error], "data": None})

    def _root(
        self,
        index: _Index,
        req: _Request,
        field: _Field,
        call: int,
        problems: list[GraphQLError],
    ) -> Any:
        if field.name == "__typename":
            return "Query"
        field_type, arg_types = _SCHEMA["Query"][field.name]
        if field.name in _NOT_EMULATED:
            problems.append(
                GraphQLError(
                    f'The sandbox does not emulate "{field.name}".',
                    req.loc(field.pos),
                    "NOT_EMULATED",
                )
            )
            return None
        assert arg_types is not None
        args = {name: req.value(ast, arg_types[name], name) for name, ast in field.args.items()}
        if field.name == "event":
            position = index.by_token.get(args["id"])
            if position is None:
                return None
            return req.project(self._node(index, position, call), field_type, field.selections)
        search = _search_from(field.name, args)
        picked = index.match(search)
        total = len(picked)
        first = args.get("first")
        first = DEFAULT_FIRST if first is None else first
        if first < 0:
            raise GraphQLError(
                '"first" must not be negative.', req.loc(field.pos), "BAD_USER_INPUT"
            )
        first = min(first, MAX_FIRST)
        offset = 0
        after = args.get("after")
        if after:
            offset = self._after(index, picked, after, req.loc(field.pos))
        limit = len(picked) if self.results_cap is None else min(len(picked), self.results_cap)
        chunk = picked[offset : min(offset + first, limit)]
        edges = [
            {"cursor": _cursor(index.events[i]), "node": self._node(index, i, call)} for i in chunk
        ]
        value = {
            "totalCount": total,
            "pageInfo": {
                "hasNextPage": offset + len(chunk) < limit,
                "hasPreviousPage": offset > 0,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
            "edges": edges,
        }
        return req.project(value, field_type, field.selections)

    @staticmethod
    def _after(index: _Index, picked: list[int], after: str, loc: tuple[int, int]) -> int:
        try:
            token = base64.b64decode(after, validate=True).decode().split(":")[0]
            position = index.by_token[token]
            return picked.index(position) + 1
        except (ValueError, KeyError, UnicodeDecodeError):
            raise GraphQLError(f"Invalid cursor: {after}", loc, "BAD_USER_INPUT") from None

    @staticmethod
    def _node(index: _Index, position: int, call: int) -> dict[str, Any]:
        event = index.events[position]
        node = dict(index.nodes[position])
        if event.recurring:
            # Ids of recurring events are "unique but unstable": a new one on every call.
            raw = _h("mu-id", event.token, call)
            letters = "abcdefghijklmnopqrstuvwxyz"
            node["id"] = "".join(letters[(raw >> (5 * k)) % 26] for k in range(13))
        else:
            node["id"] = event.token
        return node
