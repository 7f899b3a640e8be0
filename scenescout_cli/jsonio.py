"""Fast JSON on the hot path: orjson, with the standard library as the fallback.

Provider pages are parsed, provider records hashed and stored rows serialised once
per record, so the encoder's speed is the crawl's speed (``just bench``). orjson is
strict where the standard library is lenient (NaN, integers beyond 64 bits when
encoding); on those rare inputs these functions fall back to ``json`` so that a
quirky payload is still read and stored, never lost.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]


def loads(data: bytes | str) -> Any:
    """Parse JSON; ``ValueError`` (``json.JSONDecodeError``) when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # NaN/Infinity: the standard library accepts them


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """JSON text, compact and not ASCII-escaped; dates as ISO 8601, other types as str."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        return orjson.dumps(value, default=_default, option=option).decode()
    except TypeError:  # an integer beyond 64 bits, or a key orjson cannot sort
        return json.dumps(
            value,
            default=_default,
            sort_keys=sort_keys,
            separators=(",", ":"),
            ensure_ascii=False,
        )
