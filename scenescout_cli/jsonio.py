"""Fast JSON on the hot path: orjson, with the standard library as the fallback.

Provider pages are parsed, provider records hashed and stored rows serialised once
per record, so the encoder's speed is the crawl's speed (``just bench``). orjson is
strict where the standard library is lenient (NaN, integers beyond 64 bits when
encoding); on those rare inputs these functions fall back to ``json`` so that a
quirky payload is still read and stored, never lost.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import pickle
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, overload

import attrs
import orjson

__all__ = ["PackedRecords", "collector_paused", "dumps", "loads", "loads_exact"]


def loads(data: bytes | str) -> Any:
    """Parse JSON; ``ValueError`` (``json.JSONDecodeError``) when it is not JSON."""
    return loads_exact(data)[0]


def loads_exact(data: bytes | str) -> tuple[Any, bool]:
    """``loads``, and whether orjson read it: then ``dumps`` writes the same values back
    (no NaN or Infinity, no integer beyond 64 bits, which only the fallback reads)."""
    try:
        return orjson.loads(data), True
    except orjson.JSONDecodeError:
        return json.loads(data), False  # NaN/Infinity: the standard library accepts them


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (synchronous code only).

    For parsing a page and packing its records at once: the parsed objects die by
    reference counting before any collection sees them, instead of tens of thousands
    of short-lived containers being scanned and promoted to the older generations,
    which then make full collections frequent (measured: ~30% of the Trio thread's
    CPU at 100k events). Nesting is harmless; the collector is left as it was found.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: orjson's options for ``dumps(value, sort_keys=True)``
_CANONICAL = orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS


@attrs.frozen
class PackedRecords(Sequence[dict[str, Any]]):
    """A page's records packed: what crosses from discovery to ingestion (and to its
    worker process) instead of thousands of dicts.

    Each record is its canonical JSON as bytes (``texts``): ``dumps(record,
    sort_keys=True)``, the text ingestion hashes and stores. Writing it while packing
    costs the packer little more than writing the page, and spares the engine — the
    crawl's bottleneck — from writing it again (``with_texts``). Records that JSON
    cannot carry back exactly (NaN, integers beyond 64 bits: pages the standard
    library's fallback parsed) are pickled instead (``blob``) — nothing is changed.

    A Sequence: iterating or indexing parses the whole page (do it once).
    """

    #: how many records (``len``)
    size: int
    texts: tuple[bytes, ...] = attrs.field(default=(), repr=False)
    #: the records pickled, when they are not exactly JSON (``texts`` is empty)
    blob: bytes | None = attrs.field(default=None, repr=False)

    @classmethod
    def pack(cls, records: Sequence[dict[str, Any]], *, exact_json: bool = True) -> PackedRecords:
        """``exact_json``: the records came from ``loads_exact`` reporting True."""
        if exact_json:
            try:
                return cls(len(records), tuple(orjson.dumps(r, option=_CANONICAL) for r in records))
            except TypeError:
                pass  # a value orjson cannot write: keep it as it is
        return cls(len(records), blob=pickle.dumps(list(records), pickle.HIGHEST_PROTOCOL))

    @property
    def pickled(self) -> bool:
        return self.blob is not None

    def unpack(self) -> list[dict[str, Any]]:
        """The records, parsed afresh on each call."""
        if self.blob is not None:
            records: list[dict[str, Any]] = pickle.loads(self.blob)
            return records
        return [orjson.loads(text) for text in self.texts]

    def with_texts(self) -> Iterator[tuple[dict[str, Any], bytes | None]]:
        """Each record parsed afresh, with its canonical JSON (UTF-8), or None when the
        records were pickled (the caller writes it)."""
        if self.blob is not None:
            return ((record, None) for record in self.unpack())
        return ((orjson.loads(text), text) for text in self.texts)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.unpack())

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self.unpack()[index]


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """JSON text, compact and not ASCII-escaped; dates as ISO 8601, other types as str."""
    option = _CANONICAL if sort_keys else orjson.OPT_NON_STR_KEYS
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
