"""The quality score of an event: 0–100, from documented, weighted features.

A listing scores high when someone could decide to go from it alone — what, when
exactly, where exactly, how much, what it looks like — and when several providers
describe it the same way. Pure: no I/O.

==========================  ======  ==========================================================
feature                     points  full points when … (partial points)
==========================  ======  ==========================================================
title                          8    4–120 characters, not a placeholder ("TBA", "Event"),
                                    not shouting (mostly capitals) (4: usable but one of those
                                    faults; 0: a placeholder)
description                   15    ≥ 280 characters of plain text (10: ≥ 120; 5: ≥ 30;
                                    0: none or just the title again)
start time                    13    an exact start with its IANA zone (6: date only —
                                    ``all_day``, or local midnight in the event's zone, as
                                    providers without a time send it — or a start without a
                                    zone, whose local time is unknown; 0: TBA)
end time                       2    an end after the start
venue                          6    a venue name
address                        4    a street address
coordinates                    5    lat/lon
price                          7    a price or "free" is known
image                         10    an image (``has_image``: the caller's word after fetching
                                    it; default: ``image_url`` is set)
url                            5    a link to the event page
category                       5    a category other than "other"
sources                       10    3+ providers list it (6.7: two; 3.3: one)
agreement                     10    × ``agreement`` in [0, 1]: the share of compared fields
                                    (time, venue, title, price) on which the sources agree;
                                    1.0 for a single source (nothing contradicts it)
==========================  ======  ==========================================================

The sum (at most 100) is then multiplied by the status factor — ``scheduled`` 1.0,
``rescheduled`` 0.9, ``postponed`` 0.6, ``cancelled`` 0.4 — and rounded to one decimal.

Properties the tests hold: the score is in [0, 100]; adding a feature (an image, a
longer description, coordinates, a price, another agreeing source) never lowers it.
"""

from __future__ import annotations

import enum
import re
import string
import zoneinfo
from typing import Final

from ..model import Event

__all__ = ["STATUS_FACTORS", "WEIGHTS", "quality_score"]

#: Points per feature (they sum to 100); see the module docstring.
WEIGHTS: Final = {
    "title": 8.0,
    "description": 15.0,
    "start": 13.0,
    "end": 2.0,
    "venue": 6.0,
    "address": 4.0,
    "coordinates": 5.0,
    "price": 7.0,
    "image": 10.0,
    "url": 5.0,
    "category": 5.0,
    "sources": 10.0,
    "agreement": 10.0,
}
#: Multipliers of the summed points per event status.
STATUS_FACTORS: Final = {
    "scheduled": 1.0,
    "rescheduled": 0.9,
    "postponed": 0.6,
    "cancelled": 0.4,
}
assert abs(sum(WEIGHTS.values()) - 100.0) < 1e-9

_PLACEHOLDER_TITLES: Final = frozenset(
    {"tba", "tbd", "tbc", "event", "untitled", "untitled event", "test", "new event", "n a"}
)
_WORDS = re.compile(r"\w+")
_ASCII_LETTERS = string.ascii_letters.encode()
_ASCII_UPPER = string.ascii_uppercase.encode()


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET = _Unset.UNSET


def quality_score(
    event: Event,
    *,
    sources: int = 1,
    agreement: float = 1.0,
    has_image: bool | None = None,
    category: str | _Unset | None = _UNSET,
) -> float:
    """The event's quality in [0, 100] (one decimal), from the weights in the module docs.

    ``sources`` is how many provider records the canonical event merges (values below
    1 count as 1); ``agreement`` is clamped to [0, 1]; ``has_image`` overrides the
    image test (False when the image could not be fetched) and ``category`` the
    event's own (the one processing is about to give it). Never raises for a valid
    ``Event``.
    """
    if isinstance(category, _Unset):
        category = event.category
    points = 0.0
    points += WEIGHTS["title"] * _title(event.title)
    points += WEIGHTS["description"] * _description(event.description, event.title)
    points += WEIGHTS["start"] * _start(event)
    if event.starts_at is not None and event.ends_at is not None:
        points += WEIGHTS["end"] * (event.ends_at > event.starts_at)
    points += WEIGHTS["venue"] * bool(_present(event.venue_name))
    points += WEIGHTS["address"] * bool(_present(event.address))
    points += WEIGHTS["coordinates"] * (event.lat is not None and event.lon is not None)
    price_known = event.is_free is not None or event.price_min is not None
    points += WEIGHTS["price"] * (price_known or event.price_max is not None)
    image = bool(_present(event.image_url)) if has_image is None else has_image
    points += WEIGHTS["image"] * image
    points += WEIGHTS["url"] * bool(_present(event.url))
    points += WEIGHTS["category"] * (category is not None and category != "other")
    points += WEIGHTS["sources"] * min(max(sources, 1), 3) / 3
    points += WEIGHTS["agreement"] * min(max(agreement, 0.0), 1.0)
    points *= STATUS_FACTORS.get(event.status, 1.0)
    return round(min(max(points, 0.0), 100.0), 1)


def _present(text: str | None) -> str:
    return text.strip() if text else ""


def _title(title: str) -> float:
    text = " ".join(title.split())
    words = " ".join(_WORDS.findall(text.casefold()))
    if not words or words in _PLACEHOLDER_TITLES:
        return 0.0
    letters, upper = _letters_and_capitals(text)
    shouting = letters >= 8 and upper > 0.8 * letters
    fits = 4 <= len(text) <= 120
    return 1.0 if fits and not shouting else 0.5


def _letters_and_capitals(text: str) -> tuple[int, int]:
    """How many of ``text``'s characters are letters, and how many are capitals
    (``isalpha``, ``isupper``). An ASCII title is counted by bytes.translate, ~8×
    faster than a Python loop (a score for each stored event)."""
    if text.isascii():
        data = text.encode()
        return (
            len(data) - len(data.translate(None, _ASCII_LETTERS)),
            len(data) - len(data.translate(None, _ASCII_UPPER)),
        )
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters), sum(ch.isupper() for ch in letters)


def _description(description: str | None, title: str) -> float:
    text = " ".join((description or "").split())
    if text.casefold() == " ".join(title.split()).casefold():
        return 0.0
    length = len(text)
    if length >= 280:
        return 1.0
    if length >= 120:
        return 2 / 3
    if length >= 30:
        return 1 / 3
    return 0.0


def _start(event: Event) -> float:
    if event.starts_at is None or event.date_tba:
        return 0.0
    if event.all_day or not event.timezone or _local_midnight(event):
        return 6 / 13
    return 1.0


def _local_midnight(event: Event) -> bool:
    """A start at 00:00:00 local time: how providers without a time send a date."""
    if event.starts_at is None or not event.timezone:
        return False
    try:
        local = event.starts_at.astimezone(zoneinfo.ZoneInfo(event.timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return (local.hour, local.minute, local.second) == (0, 0, 0)
