"""Lenient readers of provider JSON, shared by the adapters.

Providers add, drop and retype fields; these turn whatever arrived into the value an
adapter expects, or None (or an empty container). Pure.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, TypeGuard

from ..errors import RecordRejected


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def is_int(value: Any) -> TypeGuard[int]:
    """A JSON integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def text(value: Any) -> str | None:
    """A stripped, non-empty string, else None."""
    if isinstance(value, str):
        return value.strip() or None
    return None


def upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def shown(value: Any) -> str:
    """A short repr of a provider value for reject details."""
    rendered = repr(value)
    return rendered if len(rendered) <= 60 else rendered[:59] + "…"


def parse_utc(value: Any, where: str) -> dt.datetime:
    """An ISO-8601 instant (``...Z``); a value without an offset is taken as UTC.

    RecordRejected("bad_date") otherwise.
    """
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            try:
                return parsed.astimezone(dt.UTC)
            except OverflowError:
                pass
    raise RecordRejected("bad_date", f"{where} {shown(value)} is not an ISO-8601 instant")
