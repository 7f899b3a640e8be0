"""Cross-source de-duplication: one canonical event per real-world event.

Three pieces, all pure:

- :func:`same_event` — the pairwise decision. The evaluation (``bench/eval_dedup.py``)
  measures exactly this function.
- :class:`DedupIndex` — finds, for a new record, the canonical event it belongs to,
  comparing only against records in the same time bucket and place block (blocking),
  so the cost per record does not grow with the number of events.
- :func:`merge` — the canonical view of one event from all its provider records,
  independent of their order.

The decision (every step can only say "no", so the order the code asks them in is a
matter of cost: identity, time, place, titles):

1. **Identity**: the same (source, source_id) is always the same event.
2. **Time**: two timed starts at most :data:`TIME_TOLERANCE` apart; a date-only start
   (``all_day``, or local midnight in the event's zone: providers without a time give
   the start of the day) matches any start on the same local date. Otherwise no —
   this is what keeps an early and a late show, or two nights, apart. A TBA record
   only matches another TBA record.
3. **Title markers**: conflicting show markers (early/late/matinee/evening/midnight),
   numbered parts ("Night 1"/"Night 2", "Game 1"/"Game 2", "Vol. 3"/"Vol. 4") or clock
   times in the titles ("7pm Show"/"9:30pm Show") are different events.
4. **Place**: coordinates more than :data:`FAR_M` apart are different places. Two
   venue names that share a core but each name a different room ("Webster Hall -
   The Studio" / "Webster Hall - Grand Ballroom", "Elsewhere - Rooftop" / "Elsewhere -
   Zone One", "… Stage 1" / "… Stage 2") are different rooms; a different remainder
   that names no room is a rename ("Eventim Apollo" / "Hammersmith Apollo"). One
   name inside the other is the same name ("Wembley" / "Wembley connected by EE"),
   unless the shorter is only common venue words ("The Lounge" / "Mercury Lounge").
   Beyond :data:`NEAR_M` the venue names must share a distinctive word, their run-together
   words or an acronym (the index's venue keys) and be near-identical. The place
   agrees *strongly* when the venue names are similar (token-set ≥
   :data:`VENUE_MATCH`, or one is the other's acronym: "MSG") and the coordinates, if
   any, are within :data:`NEAR_M` (or :data:`FAR_M` for near-identical
   names), or when the coordinates are within :data:`SAME_PLACE_M`, or when the
   addresses agree; *weakly* when only the coordinates are close and the names
   disagree (a renamed venue — or the bar next door).
5. **Title**: token-set similarity of the normalised titles (:func:`normalise_title`,
   venue words removed) ≥ :data:`TITLE_MATCH`. Stricter for date-only or TBA matches
   and generic titles ("Trivia Night", "Open Mic"): token-sort agreement, or one title
   containing the other only when the shorter has two distinctive words ("Knicks vs
   Celtics"). A weak place needs a near-identical, non-generic title.

Known limit: a provider that lists the doors time an hour before the show is beyond
the time tolerance and stays a separate event (two such pairs in the labelled set).

Records are compared through precomputed :class:`_Features`, so an index comparison is
a handful of rapidfuzz calls. Call ``sanitize`` and ``resolve_zone`` first: a record
without a zone is read in UTC, so its local-midnight start is not seen as date-only.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import sys
import unicodedata
import zoneinfo
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import attrs
from rapidfuzz import fuzz, process

from ..model import SOURCES, STATUSES, Event, evolve_event

T = TypeVar("T")

__all__ = [
    "FAR_M",
    "NEAR_M",
    "SAME_PLACE_M",
    "SOURCE_PRIORITY",
    "STATUS_PRIORITY",
    "TIME_TOLERANCE",
    "TITLE_MATCH",
    "VENUE_MATCH",
    "DedupIndex",
    "is_date_only",
    "local_day",
    "merge",
    "normalise_title",
    "normalise_venue",
    "same_event",
    "zone_named",
]

TIME_TOLERANCE = dt.timedelta(minutes=30)
SAME_PLACE_M = 150.0
NEAR_M = 1_500.0
FAR_M = 25_000.0
TITLE_MATCH = 80.0
VENUE_MATCH = 85.0
#: Stricter title agreement (token-sort) for date-only matches and generic titles.
_TITLE_STRICT = 85.0
#: Title agreement needed when only the coordinates say "same place".
_TITLE_WEAK_PLACE = 92.0

#: Whose url/image/title wins in a merge, most trusted first (then any other source).
SOURCE_PRIORITY = ("ticketmaster", "eventbrite", "meetup", "yelp")
#: The most reliable status wins a merge: a provider that says "cancelled" knows
#: something a lagging one does not (Eventbrite is known to lag).
STATUS_PRIORITY = ("cancelled", "postponed", "rescheduled", "scheduled")
assert set(SOURCE_PRIORITY) == set(SOURCES)
assert set(STATUS_PRIORITY) == set(STATUSES)

# --------------------------------------------------------------------------- text

_FOLD = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "’": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
        "“": '"',
        "”": '"',
        "–": " - ",
        "—": " - ",
        "‒": " - ",
        "―": " - ",
        "−": "-",
        "＆": "&",
    }
)
_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "first": "1",
    "second": "2",
    "third": "3",
    "fourth": "4",
    "1st": "1",
    "2nd": "2",
    "3rd": "3",
    "4th": "4",
    "i": "1",
    "ii": "2",
    "iii": "3",
    "iv": "4",
}
_TITLE_STOPWORDS = frozenset({"the", "a", "an", "and", "at", "vs", "v", "versus", "of", "n"})


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_VENUE_STOPWORDS = frozenset({"the", "a", "an", "and", "of", "at", "le", "la", "el", "les"})
#: Place names that venue names carry as a suffix ("Terminal 5 NYC", "KOKO Camden").
_CITY_WORDS = frozenset(
    {"nyc", "ny", "new", "york", "brooklyn", "manhattan", "queens", "bronx", "harlem"}
    | {"la", "los", "angeles", "hollywood", "london", "camden", "islington", "uk", "us"}
    | {"usa", "ca", "city", "dtla"}
)
#: Words naming a kind of venue: left out when comparing two names' distinctive core.
_TYPE_WORDS = frozenset(
    {"theatre", "venue", "arena", "centre", "stadium", "nightclub", "club", "music", "live"}
    | {"jazz", "concert", "hall"}
)
_VENUE_SPELLING = {"theater": "theatre", "center": "centre"}
#: Words that name a part of a venue.
_ROOM_WORDS = _word_set(
    """
    studio hall room stage lounge bar upstairs downstairs basement rooftop roof terrace
    garden courtyard patio deck annex annexe loft cellar attic mezzanine balcony ballroom
    auditorium space gallery zone floor level wing pavilion tent underground backroom
    back front main side small big little upper lower chapel library cafe recital
    chamber salon parlor parlour den vault dome lawn court original belly theatre arena
    pit
    """
)
#: Venue words too common to block on alone (a block per word would be a city's worth).
#: Kinds of venue belong here too: as a block key "comedy" put every comedy venue of a
#: city in one block (60% of the candidates at 1M events), and far apart, a shared
#: key is what lets "New York Comedy Club" (core "comedy") match "… Comedy House".
_COMMON_VENUE_WORDS = _ROOM_WORDS | _word_set(
    """
        street avenue ave park church house pub coffee museum school university college
        hotel restaurant brewery studios public square east west north south old grand
        royal saint art arts community center centre kitchen social place
        comedy cinema cinemas film films picture pictures opera supper playhouse
        """
)
#: Titles made only of these words (and stopwords/numbers) are generic.
_GENERIC_WORDS = _word_set(
    """
    trivia quiz pub night nights open mic karaoke jazz jam session sessions brunch happy
    hour comedy show shows standup stand up live music dj djs set sets party dance dancing
    bingo drag yoga class classes workshop meetup tour tasting wine beer cocktail market
    sale concert screening film movie reading book club talk lecture festival fair run
    walk game games board social mixer networking salsa swing tango bachata lesson
    lessons poetry slam storytelling improv sketch burlesque cabaret showcase weekly
    monthly free all ages family kids day series sunday monday tuesday wednesday thursday
    friday saturday weekend morning afternoon evening late early special edition
    happy singles silent disco rooftop vinyl hip hop house techno latin rock blues folk
    country soul funk acoustic local artists bands band
    """
)

_STATUS_WORDS = (
    r"re-?scheduled|postponed|new dates?|date change[d]?|moved|cancell?ed|sold out"
    r"|selling fast|low tickets|limited (?:tickets|availability)|few tickets left"
    r"|just (?:added|announced)|added show|extra (?:date|show) added|on sale now"
    r"|free entry|free admission|all ages|\d{1,2} ?\+|\d{2} (?:and|&) over|ages \d{1,2}\+?"
    r"|date tb[ad]|tb[ad]|to be announced|official"
)
_NOISE_SEGMENT = re.compile(
    r"^(?:"
    rf"(?:{_STATUS_WORDS})\b.*"
    r"|nyc|new york|brooklyn|los angeles|la|london|uk"
    r"|(?!.*\b(?:walking|guided|museum|gallery|highlights|food|ghost|pub|history|garden"
    r"|architecture|backstage|behind the scenes|exhibition|boat|bike|neighbou?rhood|studio"
    r"|campus|brewery|distillery|building|city)\b).*\btour(?: \d{4}| live| dates?)?"
    r"|live|live in concert|in concert|live on stage|live show|the live show|concert"
    r"|live (?:at|from|in) .*"
    r"|(?:19|20)\d\d"
    r"|(?:presented|sponsored|powered|brought to you) by\b.*"
    r"|(?:feat|ft|featuring|with special guests?|special guests?|w/|plus special guests?)\b.*"
    r")$"
)
_PRESENTS_SEGMENT = re.compile(r"^.{0,60}\bpresents?$")
_SEGMENT_SPLIT = re.compile(r"\s+[-|~/•·]\s+|:\s+|\s*[|•·]\s*")
_BRACKETS = re.compile(r"[(\[{]([^)\]}]*)[)\]}]")
_FEATURING = re.compile(
    r"\s+(?:feat\b\.?|ft\b\.?|featuring|w/|with special guests?|[+&] special guests?"
    r"|and special guests?|plus special guests?|with support from|support from|supported by"
    r"|(?:presented|sponsored|powered) by)(?:\s.*|$)"
)
_PRESENTS_PREFIX = re.compile(r"^.{1,60}?\bpresents?:?\s+(?=\S)")
_TRAILING_LIVE = re.compile(r"\s+(?:live(?: in concert| on stage)?|in concert)$")
_AGE = re.compile(r"\b\d{2}\s?\+")
_YEAR = re.compile(r"^20\d\d$")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


#: Entries in each cache of titles' text (titles and addresses recur: tours, residencies,
#: series). Small on purpose: a city's distinct titles grow with its events, and a
#: crawl must stay flat in memory; repeats of a title are mostly near in time.
_TEXT_CACHE = 8_192


def _fold(text: str) -> str:
    """Casefolded, accents stripped, typographic quotes and dashes made plain."""
    if text.isascii():
        return text.casefold().translate(_FOLD)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold().translate(_FOLD)


def _words(text: str) -> list[str]:
    """Alphanumeric words of folded text: apostrophes joined ("baby's" → "babys"), "&"
    and "+" as "and", number words as digits."""
    text = text.replace("'", "").replace("&", " and ").replace("+", " and ")
    return [_NUMBER_WORDS.get(word, word) for word in _NON_ALNUM.sub(" ", text).split()]


def normalise_title(title: str) -> str:
    """A title reduced to the words that name the event, for fuzzy comparison.

    Casefolded, accents stripped ("Beyoncé" = "beyonce", "Sigur Rós" = "sigur ros"),
    "&"/"+" read as "and", number words as digits, punctuation removed. Dropped:

    - bracketed or dash/colon/pipe-separated parts that are concert-tour names ("–
      Summer Tour 2026", ": The Eras Tour", "(World Tour)" — not guided tours: "Museum
      Highlights Tour" stays), "Live" / "Live in Concert" / "Live at
      …", status and sale notes ("(Rescheduled)", "(Postponed)", "New Date", "Sold
      Out", "Just Added", "18+", "All Ages"), years, and city tags ("(NYC)");
    - a leading part naming the promoter ("KCRW Presents: …", "Bowery Presents …",
      "Postponed: …") when something follows it;
    - "presented by / sponsored by / powered by …" and guest lists ("feat. …", "ft.",
      "featuring", "w/ …", "with special guest(s)", "+ special guests", "support from");
    - the words "the", "a", "an", "and", "at", "of", "vs"/"v"/"versus", and standalone
      years 20xx.

    Show markers ("Early Show", "Night 2", "7pm") are kept; :func:`same_event` reads
    them separately. Returns the folded words of the whole title when the rules would
    leave nothing.
    """
    return _normalised_title(_fold(title))


def _normalised_title(folded: str) -> str:
    """``normalise_title`` of a title already folded (``_fold``)."""
    bracketed = [inner.strip() for inner in _BRACKETS.findall(folded)]
    main = _BRACKETS.sub(" ", folded)
    segments = [s.strip(" -:|") for s in _SEGMENT_SPLIT.split(main)]
    segments = [s for s in segments if s]
    if len(segments) > 1 and (
        _NOISE_SEGMENT.match(segments[0]) or _PRESENTS_SEGMENT.match(segments[0])
    ):
        segments = segments[1:]
    kept = segments[:1] + [s for s in segments[1:] if not _NOISE_SEGMENT.match(s)]
    kept += [s for s in bracketed if s and not _NOISE_SEGMENT.match(s)]
    text = " ".join(kept)
    text = _FEATURING.sub("", " " + text)
    text = _PRESENTS_PREFIX.sub("", text.strip())
    while (shorter := _TRAILING_LIVE.sub("", text)) != text:
        text = shorter
    text = _AGE.sub(" ", text)
    words = [w for w in _words(text) if w not in _TITLE_STOPWORDS and not _YEAR.match(w)]
    if not words:
        words = _words(folded)
    return " ".join(words)


def normalise_venue(name: str) -> str:
    """A venue name folded to its words: casefold, accents, "&" as "and", punctuation,
    apostrophes and the words "the", "of", "at", "a", "an", "and", "le", "la" removed."""
    words = (_VENUE_SPELLING.get(w, w) for w in _words(_fold(name)))
    return " ".join(w for w in words if w not in _VENUE_STOPWORDS)


# --------------------------------------------------------------------------- markers

#: (marker, pattern); every match of a pattern contains its marker's name, so a title
#: without the name is not searched (most titles name none: it saves ~4 regex scans)
_SHOW_MARKERS = (
    ("early", re.compile(r"\bearly (?:show|set|performance|session|seating)\b|\(early\)")),
    ("late", re.compile(r"\blate (?:show|set|performance|session|seating)\b|\(late\)")),
    ("matinee", re.compile(r"\bmatinee\b")),
    ("evening", re.compile(r"\bevening (?:show|performance)\b|\(evening\)")),
    ("midnight", re.compile(r"\bmidnight (?:show|screening|set|performance)\b")),
)
_ORDINAL_KINDS = (
    r"night|day|show|set|part|game|week|session|round|leg|vol|volume|episode|chapter"
    r"|performance|weekend|edition"
)
_NUMBER = r"\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|ii|iii|iv|i"
_ORDINAL_AFTER = re.compile(rf"\b({_ORDINAL_KINDS})\.?\s*#?\s*({_NUMBER})\b")
_ORDINAL_BEFORE = re.compile(
    rf"\b(\d|1st|2nd|3rd|4th|first|second|third|fourth)(?:st|nd|rd|th)?\s+({_ORDINAL_KINDS})\b"
)
_CLOCK_12 = re.compile(r"\b(1[0-2]|0?[1-9])(?:[:.]([0-5]\d))?\s*(am|pm|a\.m\.|p\.m\.)")
_CLOCK_24 = re.compile(r"\b([01]?\d|2[0-3])[:h]([0-5]\d)\b")
_DIGIT = re.compile(r"\d")


def _markers(folded: str) -> tuple[frozenset[str], frozenset[tuple[str, str]], frozenset[int]]:
    """(show markers, numbered parts, clock times in minutes) named in a folded title."""
    shows = [name for name, pattern in _SHOW_MARKERS if name in folded and pattern.search(folded)]
    parts = {
        (_kind(kind), _NUMBER_WORDS.get(num, num)) for kind, num in _ORDINAL_AFTER.findall(folded)
    }
    parts |= {
        (_kind(kind), _NUMBER_WORDS.get(num, num)) for num, kind in _ORDINAL_BEFORE.findall(folded)
    }
    clocks: set[int] = set()
    if _DIGIT.search(folded):  # both clock patterns need a digit
        for hour, minute, half in _CLOCK_12.findall(folded):
            h = int(hour) % 12 + (12 if half.startswith("p") else 0)
            clocks.add(h * 60 + int(minute or 0))
        for hour, minute in _CLOCK_24.findall(_CLOCK_12.sub(" ", folded)):
            clocks.add(int(hour) * 60 + int(minute))
    return _frozen(shows), _frozen(parts), _frozen(clocks)


#: One empty frozenset for every record without markers: each new one costs 200 bytes,
#: three a record, and a large city's index holds ~15,000 records.
_EMPTY: frozenset[Any] = frozenset()


def _frozen(items: Iterable[T]) -> frozenset[T]:
    found = frozenset(items)
    return found if found else _EMPTY


def _kind(kind: str) -> str:
    return "vol" if kind == "volume" else kind


# --------------------------------------------------------------------------- features


@attrs.frozen
class _Features:
    """What the matcher reads from one Event, computed once."""

    source: str
    source_id: str
    start: dt.datetime | None
    #: ``start`` as POSIX seconds (NaN when TBA): the index's quick time veto
    ts: float
    date_only: bool
    #: a date-only record's local day [begin, end) as POSIX seconds, when its zone is
    #: known: the index's quick time veto for timed records (None otherwise)
    day: tuple[float, float] | None
    zone: zoneinfo.ZoneInfo | None
    title: str
    title_words: frozenset[str]
    #: the title without the words of its own venue name ("" when none would remain)
    own_title: str
    shows: frozenset[str]
    parts: frozenset[tuple[str, str]]
    clocks: frozenset[int]
    venue: str
    venue_words: frozenset[str]
    #: the venue's words without city and type filler, sorted ("" when no venue)
    venue_core: str
    #: the core is made only of common venue words ("The Garden", "The Lounge")
    generic_venue: bool
    acronyms: frozenset[str]
    venue_keys: frozenset[str]
    #: the index's place codes of ``venue_keys`` (``_venue_codes``)
    venue_codes: tuple[int, ...]
    lat: float | None
    lon: float | None
    address: str
    #: everything the place decision reads (the raw venue name, coordinates, address):
    #: records with equal places get the same verdict against a third (``_Places``)
    place: tuple[str, float | None, float | None, str]


def _features(event: Event) -> _Features:
    title = _title(event.title or "")
    zone = zone_named(event.timezone)
    start = event.starts_at
    date_only = is_date_only(event, zone)
    venue = _venue(event.venue_name or "")
    own_title = _own_title(title.text, venue.words)
    lat, lon = event.lat, event.lon
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        lat = lon = None
    address = _address(event.address) if event.address else ""
    return _Features(
        source=event.source,
        source_id=event.source_id,
        start=start,
        ts=start.timestamp() if start is not None else math.nan,
        date_only=date_only,
        day=_day_span(start, zone) if start and date_only and zone else None,
        zone=zone,
        title=title.text,
        title_words=title.words,
        own_title=own_title,
        shows=title.shows,
        parts=title.parts,
        clocks=title.clocks,
        venue=venue.name,
        venue_words=venue.words,
        venue_core=venue.core,
        generic_venue=venue.generic,
        acronyms=venue.acronyms,
        venue_keys=venue.keys,
        venue_codes=venue.codes,
        lat=lat,
        lon=lon,
        address=address,
        place=(event.venue_name or "", lat, lon, address),
    )


def _day_span(start: dt.datetime, zone: zoneinfo.ZoneInfo) -> tuple[float, float]:
    begin, end = local_day(start.astimezone(zone).date(), zone)
    return begin.timestamp(), end.timestamp()


# The caches below share one object among the records that repeat a title, a venue or
# an address (a tour, a residency, the same event from two sources): the index holds
# thousands of records' features at once, and most of their words are repeats.


class _Title:
    """What the matcher reads from one title, computed once per title text: the records
    of a tour, a residency or one event from several sources share these objects
    (``_title``)."""

    __slots__ = ("clocks", "parts", "shows", "text", "words")

    def __init__(self, raw: str) -> None:
        folded = _fold(raw)
        #: ``normalise_title``, and its words
        self.text, self.words = _shared_title(_normalised_title(folded))
        self.shows, self.parts, self.clocks = _markers(folded)


# One cache for a title's features, not one per feature (and none for the folded text):
# at 1M events about half of the titles met are new (in the sandbox), and caches of
# 8,192 texts each held ~2 MiB of cache entries and folded copies in the engine's
# process. Titles that normalise alike ("HARBOR LIGHTS", "Harbor Lights") share their
# text and word set (``_shared_title``).
@functools.lru_cache(maxsize=_TEXT_CACHE)
def _title(raw: str) -> _Title:
    """The features of the title ``raw`` as an event gives it ("" for none)."""
    return _Title(raw)


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _shared_title(text: str) -> tuple[str, frozenset[str]]:
    return text, _frozen(map(sys.intern, text.split()))


def _own_title(title: str, venue_words: frozenset[str]) -> str:
    """``title`` without the words of the venue's name (not cached: a title and a venue
    recur together too rarely; ``title`` itself, shared, when it has none of them)."""
    if venue_words.isdisjoint(words := title.split()):
        return title
    return " ".join(w for w in words if w not in venue_words)


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _address(address: str) -> str:
    return " ".join(_words(_fold(address)))


class _Venue:
    """What the matcher reads from one venue name, computed once per name: every record
    at the venue shares these objects (``_venue``)."""

    __slots__ = ("acronyms", "codes", "core", "generic", "keys", "name", "words")

    def __init__(self, raw: str) -> None:
        #: the normalised name ("" when none)
        self.name = name = normalise_venue(raw) if raw else ""
        self.words: frozenset[str] = _frozen(name.split())
        #: the words without city and type filler, sorted ("" when no venue)
        self.core = " ".join(sorted(self.words - _CITY_WORDS - _TYPE_WORDS)) or name
        #: the core is made only of common venue words ("The Garden", "The Lounge")
        self.generic = _is_generic_venue(self.core)
        self.acronyms = _acronyms(raw)
        self.keys = _venue_keys(name, self.acronyms)
        self.codes = _venue_codes(self.keys)


# One cache for a venue name's features, not one per feature: a large city has
# thousands of venues (6,533 over the first 241,858 records of 1M in the sandbox), and
# six caches of them held ~5 MiB of cache entries in the engine's process.
@functools.lru_cache(maxsize=65_536)
def _venue(raw: str) -> _Venue:
    """The features of the venue name ``raw`` as an event gives it ("" for none)."""
    return _Venue(raw)


def _is_generic_venue(core: str) -> bool:
    return bool(core) and all(word in _COMMON_VENUE_WORDS for word in core.split())


def is_date_only(event: Event, zone: zoneinfo.ZoneInfo | None) -> bool:
    """A dated start without a time: all-day, or the local midnight of ``zone`` (the
    event's own, ``zone_named(event.timezone)``). The matcher's reading, which the
    Linker's partitions follow."""
    start = event.starts_at
    return start is not None and (
        event.all_day or (zone is not None and _local_midnight(start, zone))
    )


def _is_generic(words: Iterable[str]) -> bool:
    return all(w in _GENERIC_WORDS or w.isdigit() for w in words)


# Asked of each record several times (its features, its partition, its merge), and
# of a city's few thousand starts: remembered (~1 µs to convert, ~0.25 µs to look up).
@functools.lru_cache(maxsize=8_192)
def _local_midnight(start: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    return _is_midnight(start.astimezone(zone))


def _is_midnight(local: dt.datetime) -> bool:
    return local.hour == 0 and local.minute == 0 and local.second == 0


@functools.lru_cache(maxsize=1024)
def zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone of an IANA name; None for no name or an unknown one."""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _acronyms(name: str) -> frozenset[str]:
    """Initials of a multi-word venue name, with and without small words ("Madison
    Square Garden" → msg; "Brooklyn Academy of Music" → bam, baom)."""
    words = _words(_fold(name))
    if len(words) < 2:
        return _EMPTY
    core = [w for w in words if w not in _VENUE_STOPWORDS]
    found = {"".join(w[0] for w in words)}
    if len(core) >= 2:
        found.add("".join(w[0] for w in core))
    return frozenset(found)


# --------------------------------------------------------------------------- decision


def same_event(a: Event, b: Event) -> bool:
    """True when ``a`` and ``b`` describe the same real-world event (module docstring)."""
    return _score(_features(a), _features(b)) is not None


#: ``_score``'s "place not decided yet": it asks ``_place_verdict``
_ASK: Any = object()


def _score(a: _Features, b: _Features, place: Any = _ASK) -> float | None:
    """A match score (higher is better), or None when the records are different events.

    Every test can only say no, so their order is cost's: time, then place, then
    titles. ``place`` is the pair's ``_place_verdict`` when the caller knows it (the
    index remembers one per pair of places).
    """
    if a.source == b.source and a.source_id == b.source_id:
        return 1000.0
    time_score = _time_score(a, b)
    if time_score is None:
        return None
    if place is _ASK:
        place = _place_verdict(a, b)
    if place is None:
        return None
    ta, tb = _titles_without_venue(a, b)
    set_ratio = fuzz.token_set_ratio(ta, tb)
    if set_ratio < TITLE_MATCH or _markers_conflict(a, b):
        return None
    strong, place_score = place
    generic = _is_generic(ta.split()) or _is_generic(tb.split())
    loose = a.date_only or b.date_only or a.start is None
    if (loose or generic) and not _titles_agree_strictly(ta, tb):
        return None
    if not strong and (generic or set_ratio < _TITLE_WEAK_PLACE):
        return None
    return set_ratio + place_score + time_score


def _titles_agree_strictly(ta: str, tb: str) -> bool:
    """Token-sort agreement, or one title inside the other when the shorter one has
    at least two distinctive (non-generic) words: "Knicks vs Celtics" ⊂ "New York
    Knicks vs. Boston Celtics", but not "Open Mic" ⊂ "Poetry Open Mic" nor "Giselle"
    ⊂ "Giselle: Family Workshop"."""
    if fuzz.token_sort_ratio(ta, tb) >= _TITLE_STRICT:
        return True
    short = min(ta.split(), tb.split(), key=len)
    distinctive = [w for w in short if w not in _GENERIC_WORDS and not w.isdigit()]
    return len(distinctive) >= 2 and fuzz.token_set_ratio(ta, tb) >= 95


def _time_score(a: _Features, b: _Features) -> float | None:
    """0–10 for agreeing starts (10 = identical), None for a time veto."""
    if a.start is None or b.start is None:
        return 0.0 if a.start is None and b.start is None else None
    if a.date_only or b.date_only:
        return 0.0 if _same_local_date(a, b) else None
    gap = abs(a.start - b.start)
    if gap > TIME_TOLERANCE:
        return None
    return 10.0 * (1 - gap / TIME_TOLERANCE)


def _same_local_date(a: _Features, b: _Features) -> bool:
    """Whether two starts fall on the same local date, read in the zone of the
    date-only side (each in its own zone when both are date-only)."""
    assert a.start is not None
    assert b.start is not None
    if a.date_only and b.date_only:
        zone_a, zone_b = a.zone or b.zone, b.zone or a.zone
    else:
        day = a if a.date_only else b
        zone_a = zone_b = day.zone or a.zone or b.zone
    return (
        a.start.astimezone(zone_a or dt.UTC).date() == b.start.astimezone(zone_b or dt.UTC).date()
    )


def _markers_conflict(a: _Features, b: _Features) -> bool:
    if a.shows and b.shows and not (a.shows & b.shows):
        return True
    if a.clocks and b.clocks and not (a.clocks & b.clocks):
        return True
    if a.parts and b.parts:
        kinds_a = dict(a.parts)
        for kind, number in b.parts:
            if kind in kinds_a and (kind, number) not in a.parts:
                return True
    return False


def _place_verdict(a: _Features, b: _Features) -> tuple[bool, float] | None:
    """(strong, score) when the records agree on the place, else None. Reads only
    ``place``'s parts (and what is derived from them)."""
    # Asked millions of times in a large city: no helper calls and no new sets on the
    # way to the common answer (features have both coordinates or neither).
    if a.lat is None or b.lat is None:
        return _place(a, b, None)
    distance = _metres(a.lat, a.lon, b.lat, b.lon)  # type: ignore[arg-type]
    if distance > NEAR_M:
        # Far apart: only near-identical names agree (what _place would conclude, asked
        # here first because most pairs an index offers are far apart), and those share
        # a block key.
        if distance > FAR_M or a.venue_keys.isdisjoint(b.venue_keys):
            return None
        if (
            not (
                (b.acronyms and not a.venue_words.isdisjoint(b.acronyms))
                or (a.acronyms and not b.venue_words.isdisjoint(a.acronyms))
            )
            # necessary for _venue_similarity ≥ 95, which can only be lower
            and fuzz.token_set_ratio(a.venue_core, b.venue_core, score_cutoff=95) < 95
        ):
            return None
    return _place(a, b, distance)


class _Places:
    """``_place_verdict`` remembered per pair of places: a city's events share a few
    thousand places, and most candidates a block offers are at another venue nearby.

    Each distinct ``_Features.place`` gets an integer id (``id_of``), so a remembered
    verdict is two lookups by small integers rather than the hash of two tuples. Ids
    are never reused: when more than ``limit`` places have ids the registry starts
    afresh (a place seen again gets a new id), and when more than ``limit`` verdicts
    are held they are all forgotten — a bounded memo, correct whatever it forgets.
    """

    # 60,000 verdicts: ~2 MiB. At 1M events a record decides ~30 new pairs, and 20,000
    # were forgotten every ~700 records: 5-8% more of the engine's time at 1M.
    def __init__(self, limit: int = 60_000) -> None:
        self.limit = limit
        self._ids: dict[tuple[str, float | None, float | None, str], int] = {}
        self._next_id = 0
        #: place id → {other place id → verdict}
        self._rows: dict[int, dict[int, tuple[bool, float] | None]] = {}
        self._held = 0

    def id_of(self, place: tuple[str, float | None, float | None, str]) -> int:
        """The id of ``place`` (a ``_Features.place``)."""
        found = self._ids.get(place)
        if found is None:
            if len(self._ids) >= self.limit:
                self._ids.clear()
            found = self._ids[place] = self._next_id
            self._next_id += 1
        return found

    def row(self, place_id: int) -> dict[int, tuple[bool, float] | None]:
        """The verdicts remembered for the place ``place_id`` against others (at most
        ``limit`` in all, and those one match adds, when a match begins)."""
        if self._held >= self.limit:
            self._rows = {}
            self._held = 0
        found = self._rows.get(place_id)
        if found is None:
            found = self._rows[place_id] = {}
        return found

    def decide(
        self,
        row: dict[int, tuple[bool, float] | None],
        a: _Features,
        b: _Features,
        b_id: int,
    ) -> tuple[bool, float] | None:
        """``_place_verdict(a, b)``, remembered in ``row`` (``a``'s) under ``b_id``."""
        found = row[b_id] = _place_verdict(a, b)
        self._held += 1
        return found

    def held(self, decided: int) -> None:
        """Count ``decided`` verdicts a caller remembered in a row itself."""
        self._held += decided


def _place(a: _Features, b: _Features, distance: float | None) -> tuple[bool, float] | None:
    """(strong, score) when the records agree on the place, None when they do not."""
    if distance is not None and distance > FAR_M:
        return None
    similarity = _venue_similarity(a, b)
    found: tuple[bool, float] | None = None
    if similarity is not None and similarity >= VENUE_MATCH:
        if distance is None or distance <= NEAR_M or similarity >= 95:
            found = True, 10.0
    elif distance is not None and distance <= SAME_PLACE_M:
        found = (similarity is None or similarity >= 50), 5.0
    elif (
        a.address
        and b.address
        and (distance is None or distance <= NEAR_M)
        and fuzz.token_set_ratio(a.address, b.address) >= 90
    ):
        found = True, 5.0
    # Two rooms of one venue are different places whatever else agrees (asked last:
    # most pairs a block offers have failed already).
    if found is not None and similarity is not None and _different_rooms(a, b):
        return None
    return found


def _venue_similarity(a: _Features, b: _Features) -> float | None:
    """0–100 similarity of the venue names without city/type filler; None if one is
    missing. An acronym of the other name counts as 100, and so does one name inside
    the other ("Wembley" in "Wembley connected by EE") — unless the shorter is made
    only of common venue words: "The Garden" is not "Garden Bar" round the corner, nor
    "The Lounge" "Mercury Lounge" (then the words are compared in sorted order)."""
    if not a.venue or not b.venue:
        return None
    if a.venue_words & b.acronyms or b.venue_words & a.acronyms:
        return 100.0
    similarity = fuzz.token_set_ratio(a.venue_core, b.venue_core)
    if similarity == 100 and (a.generic_venue or b.generic_venue) and a.venue_core != b.venue_core:
        # 100 from a subset (the only way to 100 with unequal cores) of common words
        return fuzz.token_sort_ratio(a.venue_core, b.venue_core)
    return similarity


def _different_rooms(a: _Features, b: _Features) -> bool:
    """True when both venue names share a core and each adds a different room.

    "Elsewhere Rooftop" / "Elsewhere Zone One", "Rockwood Music Hall Stage 1" / "…
    Stage 2": a shared core, two different remainders, at least one of which names a
    room (:data:`_ROOM_WORDS`, a number or a letter). Remainders that are spellings of
    each other ("Ballroom" / "Ball Room") or no room at all (a rename: "Eventim
    Apollo" / "Hammersmith Apollo") are not rooms.
    """
    common = (a.venue_words & b.venue_words) - _CITY_WORDS - _TYPE_WORDS
    if not common:
        return False
    rest_a = a.venue_words - b.venue_words - _CITY_WORDS
    rest_b = b.venue_words - a.venue_words - _CITY_WORDS
    if not rest_a or not rest_b:
        return False
    if not any(_is_room_word(w) for w in rest_a | rest_b):
        return False
    return fuzz.ratio("".join(sorted(rest_a)), "".join(sorted(rest_b))) < 75


def _is_room_word(word: str) -> bool:
    return word in _ROOM_WORDS or word.isdigit() or len(word) == 1


def _titles_without_venue(a: _Features, b: _Features) -> tuple[str, str]:
    """Both titles without the words of either venue name ("X at the Hollywood Bowl"),
    unless that would leave a title empty."""
    if a.venue_words == b.venue_words or (
        a.title_words.isdisjoint(b.venue_words) and b.title_words.isdisjoint(a.venue_words)
    ):
        # Each title loses only its own venue's words (precomputed): the common case.
        if not a.own_title or not b.own_title:
            return a.title, b.title
        return a.own_title, b.own_title
    venue = a.venue_words | b.venue_words
    ta = [w for w in a.title.split() if w not in venue]
    tb = [w for w in b.title.split() if w not in venue]
    if not ta or not tb:
        return a.title, b.title
    return " ".join(ta), " ".join(tb)


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres (equirectangular: within 0.1 % of the great circle below
    :data:`FAR_M`, which is all the matcher asks)."""
    # x * _RADIAN is what math.radians(x) computes, without the call
    x = (lon2 - lon1) * _RADIAN * math.cos((lat1 + lat2) / 2 * _RADIAN)
    y = (lat2 - lat1) * _RADIAN
    return 6_371_000 * math.hypot(x, y)


_RADIAN = math.pi / 180.0


# --------------------------------------------------------------------------- index

# Timed records are filed in half-hour slots: a search looks in the slots of [start −
# TIME_TOLERANCE, start + TIME_TOLERANCE], three of them (an hour and a half), where
# hour-long ones reached two (two hours) for the same hour of starts. At 1M events a
# quarter of the pairs looked at (~80 a record) were vetoed on time; with half-hours
# ~60 are looked at, for 1.4% fewer instructions in the engine. In sparse blocks the
# third slot's lookups cost more than the pairs saved (+1.0% on a 10k crawl, +1.8% at
# 100k): half-hours are for the dense city, where the engine sets the pace. Finer
# slots cost more lookups than they save (20 minutes: ~56 looked at, 0.6% fewer).
_BUCKET = dt.timedelta(minutes=30)
#: a date-only record searches the slots of its day and of this much on either side
#: (the hour-long bucket on either side it searched before slots were half-hours)
_DATE_ONLY_MARGIN = dt.timedelta(hours=1)
_TOLERANCE_S = TIME_TOLERANCE.total_seconds()
# Geo cells of 0.0075° × 0.0075° (834 m north-south, 502 m east-west at 53°). A search
# looks in every cell that a point within NEAR_M of some point of its own cell can lie
# in, up to 53° of latitude (where a degree of longitude is shortest in that range):
# 35 cells, ~18 km² around New York, where 3 × 3 cells of the old 0.015° × 0.025° were
# ~32 km² — in a dense city most candidates are other venues' events nearby.
_CELL_LAT = 0.0075
_CELL_LON = 0.0075
_REACH_LATITUDE = 53.0
_M_PER_DEGREE = 111_195.0  # a degree of a great circle (mean Earth radius 6,371 km)


def _near_cells() -> tuple[tuple[int, int], ...]:
    """Cell offsets (Δlat, Δlon) whose nearest point can be within NEAR_M of a cell."""
    lat_m = _CELL_LAT * _M_PER_DEGREE
    lon_m = _CELL_LON * _M_PER_DEGREE * math.cos(math.radians(_REACH_LATITUDE))
    reach_i = math.ceil(NEAR_M / lat_m) + 1
    reach_j = math.ceil(NEAR_M / lon_m) + 1
    return tuple(
        (di, dj)
        for di in range(-reach_i, reach_i + 1)
        for dj in range(-reach_j, reach_j + 1)
        if math.hypot(max(0, abs(di) - 1) * lat_m, max(0, abs(dj) - 1) * lon_m) <= NEAR_M
    )


_NEAR_CELLS = _near_cells()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY = dt.timedelta(days=1)
_TICK = dt.timedelta(microseconds=1)


class DedupIndex:
    """An in-memory index of provider records grouped under canonical keys.

    ``add(key, event)`` files one provider record under the canonical event ``key``
    (a UUID, a string, a tuple — anything hashable; orderable keys make ties
    deterministic). Add every record of a canonical event, and events already in the
    database, so that later records match any of them. Re-adding the same (source,
    source_id) replaces its earlier entry (a re-crawl, a changed time or place).

    ``match(event)`` returns the key whose records the event is the same event as
    (:func:`same_event`), or None. A record already added matches its own key whatever
    changed. Among several matching keys the best score wins, then the smallest key
    (insertion order when keys are not comparable). Matching is not transitive: a
    record that matches two keys does not join them.

    Blocking: records are filed under (half-hour UTC time bucket × geo cell) and
    (time bucket × venue-name key: the distinctive words, all of them run together,
    the acronym); a date-only record is filed under the UTC days of its local day
    instead of half-hours (see ``_buckets``), a TBA record under one "tba" bucket.
    ``match`` looks in the neighbouring buckets and cells only, so its cost depends
    on how many events share a place (or a venue word) within a few hours — not on
    the size of the index. The neighbouring cells reach at least
    :data:`NEAR_M` (below 53° of latitude); records further apart are only found
    through a shared venue key, which near-identical names — the only ones
    :func:`same_event` accepts that far apart — have.
    ``comparisons`` counts the pairwise decisions ``match`` has made — per record it
    stays flat as the index grows (see ``bench/dedup_scale.py``).
    Not thread-safe; pure CPU, no I/O.
    """

    def __init__(self) -> None:
        self.comparisons = 0
        self._records: dict[tuple[str, str], _Entry] = {}
        #: blocks in two levels, time code → place code → the records filed under it
        #: (see ``_blocks``), and key → its records: lists, not sets or dicts (most hold
        #: one record or a few, and a dict per block was a fifth of the index's memory)
        self._blocks: dict[int, dict[int, list[_Entry]]] = {}
        self._order: dict[Hashable, int] = {}
        self._members: dict[Hashable, list[_Entry]] = {}
        # match() then add() of the same record is the common path: compute once.
        self._last: tuple[Event, _Features] | None = None
        self._places = _Places()

    def __len__(self) -> int:
        """The number of provider records in the index."""
        return len(self._records)

    def add(self, key: Hashable, event: Event) -> None:
        """File ``event`` under the canonical ``key`` (see the class docstring)."""
        identity = (event.source, event.source_id)
        self._remove(identity)
        features = self._features(event)
        entry = _Entry(key, features, self._places.id_of(features.place))
        places = _places_of(features)
        for time_code in _buckets(features, search=False):
            cells = self._blocks.get(time_code)
            if cells is None:
                cells = self._blocks[time_code] = {}
            for place in places:
                members = cells.get(place)
                if members is None:
                    cells[place] = [entry]
                else:
                    members.append(entry)
        self._records[identity] = entry
        self._members.setdefault(key, []).append(entry)
        self._order.setdefault(key, len(self._order))

    def match(self, event: Event) -> Hashable | None:
        """The key of the canonical event ``event`` belongs to, or None."""
        known = self._records.get((event.source, event.source_id))
        if known is not None:
            return known.key
        features = self._features(event)
        # Most candidates of a block fail on time, place or title. Timed pairs more
        # than TIME_TOLERANCE apart, and a timed record outside a date-only one's local
        # day, are vetoed here, then pairs of places known not to agree (one remembered
        # verdict per pair of places), then titles below TITLE_MATCH where the pair's
        # titles are each one's own title without its venue's words (see
        # _titles_without_venue), all compared in one rapidfuzz call; a pair of places
        # not decided yet is decided after its titles agree. Each is the veto _score
        # would give, so their order changes no decision; the rest go on to the full
        # decision.
        quick = features.start is not None and not features.date_only
        ts = features.ts
        own_title = features.own_title
        venue_words, title_words = features.venue_words, features.title_words
        #: every record looked at → its score (None: not the same event); a record
        #: whose place agrees and that is not scored yet is waiting in ``places_of``
        scores: dict[_Entry, float | None] = {}
        places_of: dict[_Entry, tuple[bool, float]] = {}
        titles: list[str] = []
        titled: list[_Entry] = []
        candidates: list[_Entry] = []
        blocks = self._blocks
        places = self._places
        verdicts = places.row(places.id_of(features.place))
        missing = _ASK
        compared = decided = 0
        for members in _blocks(blocks, features):
            for entry in members:
                if entry in scores:
                    continue
                other = entry.features
                compared += 1
                scores[entry] = None
                if quick:
                    if not other.date_only:
                        if abs(other.ts - ts) > _TOLERANCE_S:
                            continue
                    elif other.day is not None and not other.day[0] <= ts < other.day[1]:
                        continue  # not on the date-only record's local date
                place = verdicts.get(entry.place_id, missing)
                if place is None:
                    continue
                batched = (
                    own_title
                    and other.own_title
                    and (
                        other.venue_words == venue_words
                        or (
                            title_words.isdisjoint(other.venue_words)
                            and other.title_words.isdisjoint(venue_words)
                        )
                    )
                )
                if batched:
                    # A place not decided yet is decided after the titles, for the few
                    # whose titles agree: ~6 in 7 such pairs failed on titles, which
                    # one C call compares for all of them.
                    if place is not missing:
                        places_of[entry] = place
                    titles.append(other.own_title)
                    titled.append(entry)
                    continue
                if place is missing:
                    place = verdicts[entry.place_id] = _place_verdict(features, other)
                    decided += 1
                    if place is None:
                        continue
                places_of[entry] = place
                candidates.append(entry)
        self.comparisons += compared
        places.held(decided)
        if titles:
            agreeing = process.extract(
                own_title,
                titles,
                scorer=fuzz.token_set_ratio,
                processor=None,
                score_cutoff=TITLE_MATCH,
                limit=None,
            )
            for _, _, index in agreeing:
                entry = titled[index]
                if entry not in places_of:
                    place = verdicts.get(entry.place_id, missing)
                    if place is missing:
                        place = places.decide(verdicts, features, entry.features, entry.place_id)
                    if place is None:
                        continue
                    places_of[entry] = place
                candidates.append(entry)
        best: dict[Hashable, float] = {}
        for entry in candidates:
            score = scores[entry] = _score(features, entry.features, places_of[entry])
            if score is not None and score > best.get(entry.key, -1.0):
                best[entry.key] = score
        # Complete linkage: a record joins a canonical event only if it is the same
        # event as every record already in it, so that which records end up together
        # depends far less on the order they arrive in (A~C and B~C but not A~B must
        # not become one event because C came first).
        for key in list(best):
            for entry in self._members.get(key, ()):
                if entry in scores:
                    score = scores[entry]
                else:
                    self.comparisons += 1
                    place = verdicts.get(entry.place_id, missing)
                    if place is missing:
                        place = places.decide(verdicts, features, entry.features, entry.place_id)
                    score = _score(features, entry.features, place)
                if score is None:
                    del best[key]
                    break
                best[key] = min(best[key], score)
        if not best:
            return None
        return min(best, key=functools.cmp_to_key(self._better(best)))

    def joins(self, event: Event, key: Hashable) -> bool:
        """Whether ``event`` is the same event as every record filed under ``key``
        other than its own earlier version (complete linkage, as ``match`` decides):
        whether a record linked before still belongs where it was."""
        features = self._features(event)
        for entry in self._members.get(key, ()):
            other = entry.features
            if other.source == features.source and other.source_id == features.source_id:
                continue
            self.comparisons += 1
            if _score(features, other) is None:
                return False
        return True

    def _features(self, event: Event) -> _Features:
        if self._last is not None and self._last[0] is event:
            return self._last[1]
        features = _features(event)
        self._last = (event, features)
        return features

    def _better(self, best: dict[Hashable, float]) -> Any:
        def compare(x: Hashable, y: Hashable) -> int:
            if best[x] != best[y]:
                return -1 if best[x] > best[y] else 1
            try:
                return -1 if x < y else (1 if y < x else 0)  # type: ignore[operator]
            except TypeError:
                return self._order[x] - self._order[y]

        return compare

    def remove(self, identity: tuple[str, str]) -> None:
        """Forget the record ``identity`` (source, source id); a key left without
        records is forgotten too. Nothing happens for an unknown identity."""
        old = self._records.get(identity)
        self._remove(identity)
        if old is not None and not self._members.get(old.key):
            self._members.pop(old.key, None)
            self._order.pop(old.key, None)

    def _remove(self, identity: tuple[str, str]) -> None:
        old = self._records.pop(identity, None)
        if old is None:
            return
        self._members[old.key].remove(old)
        # the blocks it was filed under, found again (features do not change)
        places = _places_of(old.features)
        for time_code in _buckets(old.features, search=False):
            cells = self._blocks.get(time_code)
            if cells is None:
                continue
            for place in places:
                members = cells.get(place)
                if members is not None:
                    members.remove(old)
                    if not members:
                        del cells[place]
            if not cells:
                del self._blocks[time_code]


class _Entry:
    """One record in the index: its canonical key, features and place id (its blocks
    are its ``_buckets`` × ``_places_of``, found again when it is removed rather than
    held).

    Compared and hashed by identity (a block's list and the scores of one match hold
    entries themselves, not their (source, source_id), which would be hashed anew at
    every look)."""

    __slots__ = ("features", "key", "place_id")

    def __init__(self, key: Hashable, features: _Features, place_id: int) -> None:
        self.key = key
        self.features = features
        self.place_id = place_id


def _blocks(blocks: dict[int, dict[int, list[_Entry]]], f: _Features) -> Iterator[list[_Entry]]:
    """The non-empty blocks a record looks in: for each of its search buckets
    (``_buckets``), the records filed in a geo cell near its own and those filed under
    one of its venue keys (an entry may be in several).

    Blocks are held in two levels, time code → place code → records, and both codes
    are ints (``_buckets``, ``_places_of``). A search reaches 35 cells × 4 time codes
    (three half-hours and the day) and the venue keys, ~150 blocks, most of them
    empty; a look in a dict of tens of thousands of tuple keys cost ~1 µs on the
    development machines. Now a bucket's few places are scanned when they are fewer
    than its cells to look up.
    """
    geo = _geo_code(f.lat, f.lon)
    venues = f.venue_codes
    for time_code in _buckets(f, search=True):
        cells = blocks.get(time_code)
        if not cells:
            continue
        if geo is not None:
            if len(cells) <= _SCAN_UP_TO:
                near = _NEAR_DELTA_SET
                for place, filed in cells.items():
                    if place - geo in near:
                        yield filed
            else:
                for delta in _NEAR_DELTAS:
                    members = cells.get(geo + delta)
                    if members:
                        yield members
        for venue in venues:
            members = cells.get(venue)
            if members:
                yield members


def _places_of(f: _Features) -> tuple[int, ...]:
    """The place codes a record is filed under: its geo cell, then its venue keys."""
    geo = _geo_code(f.lat, f.lon)
    venues = f.venue_codes
    return venues if geo is None else (geo, *venues)


# Place codes: below 2³¹ a geo cell, (i + 2¹⁴) × 2¹⁶ + (j + 2¹⁵) for the cell (i, j),
# so that a neighbour (i + di, j + dj) is the code + di × 2¹⁶ + dj; from 2³¹ a venue
# key, numbered in the order first seen (one number per key for the process's life:
# the keys are a city's venue words, tens of thousands at most).
_GEO_ROW = 1 << 16
_GEO_I0, _GEO_J0 = 1 << 14, 1 << 15
_VENUE_CODE0 = 1 << 31
_NEAR_DELTAS = tuple(di * _GEO_ROW + dj for di, dj in _NEAR_CELLS)
_NEAR_DELTA_SET = frozenset(_NEAR_DELTAS)
#: a bucket with at most this many places is scanned, not looked up cell by cell
_SCAN_UP_TO = 2 * len(_NEAR_CELLS)
_GEO_REACH = max(max(abs(di), abs(dj)) for di, dj in _NEAR_CELLS)
_VENUE_NUMBERS: dict[str, int] = {}


def _geo_code(lat: float | None, lon: float | None) -> int | None:
    """The place code of the cell of (lat, lon); None without coordinates, or for
    coordinates no valid event has (beyond ±90° / ±180° by far: not filed by place)."""
    if lat is None or lon is None:
        return None
    i = math.floor(lat / _CELL_LAT) + _GEO_I0
    j = math.floor(lon / _CELL_LON) + _GEO_J0
    if not (_GEO_REACH <= i < 2 * _GEO_I0 - _GEO_REACH and _GEO_REACH <= j < _GEO_ROW - _GEO_REACH):
        return None
    return i * _GEO_ROW + j


# A venue's code is never a near cell's, as the scan in _blocks assumes: it is further
# from the largest geo code _geo_code gives than the furthest near cell.
assert max(_NEAR_DELTAS) < _VENUE_CODE0 - ((2 * _GEO_I0 - _GEO_REACH) * _GEO_ROW - _GEO_REACH)


def _venue_codes(keys: frozenset[str]) -> tuple[int, ...]:
    return tuple(_VENUE_NUMBERS.setdefault(key, _VENUE_CODE0 + len(_VENUE_NUMBERS)) for key in keys)


def _venue_keys(venue: str, acronyms: frozenset[str]) -> frozenset[str]:
    """Venue-name block keys of a normalised venue name: each distinctive word, the
    distinctive words run together, and the acronyms — so "Wembley Stadium connected
    by EE" meets "Wembley Stadium", "The Bowery Ball Room" meets "Bowery Ballroom" and
    "MSG" meets "Madison Square Garden"."""
    if not venue:
        return _EMPTY
    words = venue.split()
    core = [w for w in words if w not in _CITY_WORDS and w not in _TYPE_WORDS] or words
    distinctive = (w for w in core if len(w) >= 3 and w not in _COMMON_VENUE_WORDS)
    return frozenset({"".join(core), *distinctive, *acronyms})


def _buckets(f: _Features, *, search: bool) -> Iterator[int]:
    """The time codes of a record's buckets: its UTC half-hour for a timed record, the UTC
    days its local day overlaps for a date-only one, one "to be announced" code for a
    record without a start (see ``_slot_code``, ``_day_code`` and ``_TBA_CODE``).

    A date-only record is filed under the UTC days its local day overlaps (two at
    most), not under each of its 23 to 25 hours: filing it hourly made its 2% of the
    records a third of the index. A timed record looks in its UTC day as well as the
    half-hours within TIME_TOLERANCE of its start, so it meets every date-only record
    whose local day it falls in; a date-only record looks in the half-hours of its day
    and the days around it.
    """
    if f.start is None:
        yield _TBA_CODE
        return
    if not f.date_only:
        if not search:
            yield _slot_code(_bucket(f.start))
            return
        # A timed start matches starts within TIME_TOLERANCE: they lie in these slots
        # (counted as offsets from the epoch: start ± TIME_TOLERANCE as a datetime
        # would overflow near datetime.min and .max).
        since = f.start - _EPOCH
        first, last = (since - TIME_TOLERANCE) // _BUCKET, (since + TIME_TOLERANCE) // _BUCKET
        for slot in range(first, last + 1):
            yield _slot_code(slot)
        yield _day_code(since // _DAY)
        return
    begin, end = _local_day_of(f)
    if search:
        begin, end = begin - _DATE_ONLY_MARGIN, end + _DATE_ONLY_MARGIN
        for slot in range(_bucket(begin), _bucket(end - _TICK) + 1):
            yield _slot_code(slot)
    for day in range((begin - _EPOCH) // _DAY, (end - _TICK - _EPOCH) // _DAY + 1):
        yield _day_code(day)


# Time codes, non-negative for every datetime: 3 × (n + 2²⁶) for half-hour n or day n
# since the epoch (+ 0 for a half-hour, + 1 for a day), 2 for "to be announced".
_TIME_OFFSET = 1 << 26
_TBA_CODE = 2


def _slot_code(slot: int) -> int:
    return 3 * (slot + _TIME_OFFSET)


def _day_code(day: int) -> int:
    return 3 * (day + _TIME_OFFSET) + 1


def _bucket(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _BUCKET


def _local_day_of(f: _Features) -> tuple[dt.datetime, dt.datetime]:
    """[begin, end) of a date-only record's day: its local day in its own zone (23 to
    25 hours: a timed record on that date is the same date to ``_same_local_date``),
    else the 24 hours from its start."""
    assert f.start is not None
    if f.zone is None:
        return f.start, f.start + _DAY
    return local_day(f.start.astimezone(f.zone).date(), f.zone)


@functools.lru_cache(maxsize=4_096)
def local_day(date: dt.date, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[begin, end) of ``date`` in ``zone`` as UTC instants; a midnight in a DST gap or
    fold is read early for the beginning and late for the end (the wider day)."""
    following = date + _DAY
    begin = min(dt.datetime.combine(date, dt.time(0, fold=fold), zone) for fold in (0, 1))
    end = max(dt.datetime.combine(following, dt.time(0, fold=fold), zone) for fold in (0, 1))
    return begin.astimezone(dt.UTC), end.astimezone(dt.UTC)


# --------------------------------------------------------------------------- merge


def merge(records: Sequence[Event]) -> Event:
    """The canonical Event of one real-world event from all its provider records.

    The result does not depend on the order of ``records``: they are first sorted by
    source priority (:data:`SOURCE_PRIORITY`), source, source id, latest fetch, then
    every other field. Field policy:

    - identity (``source``, ``source_id``): the first record in that order;
    - title: the one most records carry; ties to the more trusted source;
    - start, end, zone: from the first record with a real time, else the first
      date-only one, else TBA (``date_tba`` only when no record has a date);
      ``all_day`` as that record says; a missing end or zone from the next record;
    - description: the longest plain text, with that record's ``description_html``;
    - place: lat/lon, address, locality, postal code, country from the record with the
      most precise coordinates (most decimals), gaps filled in order; venue_name the
      longest (most specific: "Zankel Hall at Carnegie Hall" over "Carnegie Hall");
    - prices: the union of the ranges in the most common currency (min of minimums,
      max of maximums); is_free True only if a record says free and no price is above
      0, False if a record says not free or a price is above 0;
    - status: the most reliable (:data:`STATUS_PRIORITY`: cancelled first);
    - url, image_url: the most trusted source's; category the most common; tags the
      union; fetched_at the latest; ``raw`` empty and ``content_hash`` None (each
      provider record keeps its own).

    ``ValueError`` when ``records`` is empty.
    """
    if not records:
        raise ValueError("merge needs at least one record")
    if len(records) == 1:
        return _merge_one(records[0])
    return _merge_many(records)


def _merge_one(e: Event) -> Event:
    """``merge([e])`` without the sorting and voting (most canonical events have one
    record): the same field policy applied to a single record."""
    price_min, price_max, currency, is_free = _merged_prices((e,))
    return evolve_event(
        e,
        timezone=e.timezone or None,
        date_tba=e.starts_at is None,
        venue_name=e.venue_name or None,
        address=e.address or None,
        locality=e.locality or None,
        postal_code=e.postal_code or None,
        country=e.country or None,
        category=e.category or None,
        tags=tuple(dict.fromkeys(e.tags)),
        price_min=price_min,
        price_max=price_max,
        currency=currency,
        is_free=is_free,
        url=e.url or None,
        image_url=e.image_url or None,
        fetched_at=e.fetched_at or None,
        content_hash=None,
        raw={},
    )


def _merge_many(records: Sequence[Event]) -> Event:
    identities = {(e.source, e.source_id) for e in records}
    # Identities are unique in a canonical event; only repeats need the full order.
    ordered = sorted(records, key=_stable_key if len(identities) < len(records) else _key)
    first = ordered[0]
    timed = [
        e
        for e in ordered
        if e.starts_at is not None and not is_date_only(e, zone_named(e.timezone))
    ]
    dated = [e for e in ordered if e.starts_at is not None]
    when = (timed or dated or ordered)[0]
    place = max(ordered, key=lambda e: (_precision(e), -ordered.index(e)))
    described = max(ordered, key=lambda e: (len(e.description or ""), -ordered.index(e)))
    price_min, price_max, currency, is_free = _merged_prices(ordered)
    return evolve_event(
        first,
        title=_most_common([e.title for e in ordered if e.title]) or first.title,
        starts_at=when.starts_at,
        ends_at=when.ends_at or _first_end(ordered, when.starts_at),
        timezone=when.timezone or _first(e.timezone for e in ordered),
        date_tba=when.starts_at is None,
        all_day=when.all_day,
        description=described.description,
        description_html=described.description_html,
        venue_name=max((e.venue_name for e in ordered if e.venue_name), key=len, default=None),
        address=place.address or _first(e.address for e in ordered),
        locality=place.locality or _first(e.locality for e in ordered),
        postal_code=place.postal_code or _first(e.postal_code for e in ordered),
        country=place.country or _first(e.country for e in ordered),
        lat=place.lat,
        lon=place.lon,
        category=_most_common([e.category for e in ordered if e.category]),
        tags=tuple(dict.fromkeys(tag for e in ordered for tag in e.tags)),
        price_min=price_min,
        price_max=price_max,
        currency=currency,
        is_free=is_free,
        url=_first(e.url for e in ordered),
        image_url=_first(e.image_url for e in ordered),
        status=min((e.status for e in ordered), key=_status_rank),
        fetched_at=max((e.fetched_at for e in ordered if e.fetched_at), default=None),
        content_hash=None,
        raw={},
    )


def _key(event: Event) -> tuple[Any, ...]:
    fetched = event.fetched_at.timestamp() if event.fetched_at else -math.inf
    return (_source_rank(event.source), event.source, event.source_id, -fetched)


def _stable_key(event: Event) -> tuple[Any, ...]:
    rest = attrs.astuple(event, recurse=False, filter=lambda a, _v: a.name != "raw")
    return (*_key(event), repr(rest))


def _source_rank(source: str) -> int:
    return SOURCE_PRIORITY.index(source) if source in SOURCE_PRIORITY else len(SOURCE_PRIORITY)


def _status_rank(status: str) -> int:
    return STATUS_PRIORITY.index(status) if status in STATUS_PRIORITY else len(STATUS_PRIORITY)


def _most_common(values: list[Any]) -> Any:
    """The most frequent value; ties to the earliest (values are in stable order)."""
    if not values:
        return None
    counts = Counter(values)
    return max(values, key=lambda v: (counts[v], -values.index(v)))


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in values if v), None)


def _first_end(ordered: Sequence[Event], start: dt.datetime | None) -> dt.datetime | None:
    if start is None:
        return None
    return _first(e.ends_at for e in ordered if e.ends_at is not None and e.ends_at > start)


def _precision(event: Event) -> int:
    """Decimals of the coarser coordinate (-1 without coordinates)."""
    if event.lat is None or event.lon is None:
        return -1
    return min(_decimals(event.lat), _decimals(event.lon))


def _decimals(value: float) -> int:
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0
    return len(text.split(".")[1].rstrip("0"))


def _merged_prices(
    ordered: Sequence[Event],
) -> tuple[float | None, float | None, str | None, bool | None]:
    priced = [e for e in ordered if e.price_min is not None or e.price_max is not None]
    currency = _most_common([e.currency for e in priced if e.currency])
    same = [e for e in priced if e.currency in (currency, None)]
    lows = [e.price_min for e in same if e.price_min is not None]
    highs = [e.price_max for e in same if e.price_max is not None]
    low, high = (min(lows) if lows else None), (max(highs) if highs else None)
    above_zero = any(p > 0 for p in (*lows, *highs))
    flags = {e.is_free for e in ordered if e.is_free is not None}
    if False in flags or above_zero:
        is_free: bool | None = False
    elif True in flags:
        is_free = True
    else:
        is_free = None
    return low, high, currency, is_free
