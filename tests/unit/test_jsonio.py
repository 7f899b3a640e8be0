"""jsonio: orjson on the hot path, the standard library where orjson is strict."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from scenescout_cli import jsonio


def test_loads_reads_what_orjson_refuses() -> None:
    """NaN and Infinity (seen in the wild) are read, not turned into a failed page."""
    assert jsonio.loads(b'{"lat": 40.7}') == {"lat": 40.7}
    parsed = jsonio.loads(b'{"a": NaN, "b": Infinity}')
    assert parsed["a"] != parsed["a"]
    assert parsed["b"] == float("inf")
    with pytest.raises(ValueError, match="Expecting value"):
        jsonio.loads(b"<html>Bad gateway</html>")


def test_dumps_is_compact_sorted_and_keeps_unicode() -> None:
    text = jsonio.dumps({"b": "Beyoncé", "a": [1, 2.5, None]}, sort_keys=True)
    assert text == '{"a":[1,2.5,null],"b":"Beyoncé"}'
    assert json.loads(text) == {"a": [1, 2.5, None], "b": "Beyoncé"}


def test_dumps_writes_dates_uuids_and_other_types_as_text() -> None:
    when = dt.datetime(2026, 11, 28, 17, 0, tzinfo=dt.UTC)
    key = uuid.UUID(int=7)
    assert json.loads(jsonio.dumps({"when": when, "day": when.date(), "id": key})) == {
        "when": "2026-11-28T17:00:00+00:00",
        "day": "2026-11-28",
        "id": str(key),
    }


def test_dumps_falls_back_for_integers_beyond_64_bits() -> None:
    """An oversized provider id is stored exactly, not refused."""
    assert jsonio.dumps({"id": 2**70, "k": 1}, sort_keys=True) == f'{{"id":{2**70},"k":1}}'


def test_loads_exact_says_which_parser_read_it() -> None:
    assert jsonio.loads_exact(b'{"n": 1}') == ({"n": 1}, True)
    value, exact = jsonio.loads_exact(b'{"n": NaN}')
    assert value["n"] != value["n"]
    assert exact is False


def test_packed_records_round_trip_as_json() -> None:
    records = [{"id": "a", "lat": 40.7, "tags": ["x", None]}, {"id": "b", "n": 2**63 - 1}]
    packed = jsonio.PackedRecords.pack(records)
    assert not packed.pickled
    assert len(packed) == 2
    assert list(packed) == records
    assert packed[1] == records[1]
    assert packed[:1] == records[:1]
    assert packed.unpack() is not packed.unpack()  # parsed afresh: callers may mutate


def test_packed_records_carry_each_records_canonical_json() -> None:
    """What ingestion would write for each record (keys sorted, compact, not
    ASCII-escaped) is written once, while packing, and comes with the record."""
    records = [
        {"name": "Café Wha?", "id": "a", "dates": {"start": {"localDate": "2026-12-01"}}},
        {"z": 1.5, "a": [True, None, {"y": 2, "b": 3}], "id": "b"},
    ]
    packed = jsonio.PackedRecords.pack(records)
    pairs = list(packed.with_texts())
    assert [record for record, _ in pairs] == records
    assert [text for _, text in pairs] == [
        jsonio.dumps(record, sort_keys=True).encode() for record in records
    ]
    assert pairs[0][1] is not None
    assert pairs[0][1].startswith(b'{"dates":')
    nan, _ = jsonio.loads_exact(b'[{"id": "c", "lat": NaN}]')
    [(record, text)] = jsonio.PackedRecords.pack(nan, exact_json=False).with_texts()
    assert (record["id"], text) == ("c", None)  # pickled: the caller writes it


def test_packed_records_keep_what_json_cannot_carry_back() -> None:
    """A page the fallback parser read (NaN) or an integer beyond 64 bits is pickled,
    so the engine sees exactly the values the adapter saw."""
    value, exact = jsonio.loads_exact(b'[{"id": "a", "lat": NaN}]')
    packed = jsonio.PackedRecords.pack(value, exact_json=exact)
    assert packed.pickled
    (record,) = packed
    assert record["id"] == "a"
    assert record["lat"] != record["lat"]
    huge = jsonio.PackedRecords.pack([{"id": 2**70}])
    assert huge.pickled
    assert list(huge) == [{"id": 2**70}]


def test_collector_paused_restores_the_collector() -> None:
    import gc

    assert gc.isenabled()
    with jsonio.collector_paused():
        assert not gc.isenabled()
        with jsonio.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves it as the outer one set it
    assert gc.isenabled()
    with pytest.raises(KeyError), jsonio.collector_paused():
        raise KeyError("boom")
    assert gc.isenabled()
