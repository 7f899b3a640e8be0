"""The conformance suite every source adapter passes, on fixture JSON in the real shape.

Each adapter's fixtures live in ``fixtures/<source>/`` with a ``conformance.json``:

    {
      "env": {"TICKETMASTER_API_KEY": "conformance-key"},   # settings that enable it
      "secret": "conformance-key",                          # must never appear in errors
      "city": "nyc",
      "pages": [                                            # parse_page cases
        {"kind": "first_page", "status": 200, "body": "page_nyc_0.json",
         "cursor": null, "records": 8, "next": "any"},
        {"kind": "auth_failure", "status": 401, "body": "error_invalid_key.json",
         "raises": "SourceAuthError"},
        ...
      ],
      "normalise": [                                        # normalise cases
        {"body": "page_nyc_0.json", "cursor": null, "valid": 8, "rejected": {}},
        {"records": "record_malformed.json", "valid": 0, "rejected": {"missing_title": 1}}
      ]
    }

``body`` is a fixture file name, an inline JSON value (``{"inline": ...}``) or null
(no JSON body); ``override`` merges keys into a file's top level. ``next`` is null
(last page), "any" (some cursor) or an exact cursor. Every adapter must cover the
kinds in ``REQUIRED_KINDS`` and reject at least one malformed record.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from scenescout_cli import errors
from scenescout_cli.cities import city_from_slug
from scenescout_cli.config import load_settings
from scenescout_cli.model import Event, Venue, Window
from scenescout_cli.sources.base import SourceAdapter
from scenescout_cli.sources.registry import SOURCES, configured_sources

FIXTURES = Path(__file__).parents[2] / "fixtures"
REQUIRED_KINDS = {
    "first_page",
    "last_page",
    "empty",
    "cap_reached",
    "auth_failure",
    "provider_error",
}
FETCHED_AT = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
WINDOW = Window(dt.datetime(2026, 11, 28, tzinfo=dt.UTC), dt.datetime(2026, 12, 28, tzinfo=dt.UTC))


def _suites() -> dict[str, dict[str, Any]]:
    found = {}
    for name in SOURCES:
        path = FIXTURES / name / "conformance.json"
        if path.exists():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    return found


SUITES = _suites()


def _adapter(source: str, suite: dict[str, Any], tmp_path: Path) -> SourceAdapter:
    settings = load_settings({**suite["env"], "SCENESCOUT_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    configured, notices = configured_sources(settings, (source,))
    assert source in configured, notices
    return configured[source].adapter


def _body(source: str, case: dict[str, Any], key: str = "body") -> Any:
    value = case.get(key)
    if value is None:
        return None
    if isinstance(value, dict) and "inline" in value:
        return value["inline"]
    body = json.loads((FIXTURES / source / value).read_text(encoding="utf-8"))
    if "override" in case:
        body = {**body, **case["override"]}
    return body


def _query(adapter: SourceAdapter, suite: dict[str, Any]) -> Any:
    return adapter.plan(city_from_slug(suite.get("city", "nyc")), WINDOW)[0]


PAGE_CASES = [
    pytest.param(source, case, id=f"{source}-{case['kind']}-{i}")
    for source, suite in SUITES.items()
    for i, case in enumerate(suite["pages"])
]
NORMALISE_CASES = [
    pytest.param(source, case, id=f"{source}-normalise-{i}")
    for source, suite in SUITES.items()
    for i, case in enumerate(suite["normalise"])
]


def test_every_source_has_a_conformance_suite() -> None:
    """Every registered adapter ships fixtures and a conformance.json."""
    assert set(SUITES) == set(SOURCES), f"missing: {set(SOURCES) - set(SUITES)}"


@pytest.mark.parametrize("source", list(SUITES))
def test_suite_covers_the_required_kinds(source: str) -> None:
    """Each suite covers first/last/empty pages, the cap, auth, an error body and a bad record."""
    suite = SUITES[source]
    assert {case["kind"] for case in suite["pages"]} >= REQUIRED_KINDS
    assert any(case.get("rejected") for case in suite["normalise"])


@pytest.mark.parametrize(("source", "case"), PAGE_CASES)
def test_page_case(source: str, case: dict[str, Any], tmp_path: Path) -> None:
    """parse_page turns each fixture response into the expected page or error class."""
    suite = SUITES[source]
    adapter = _adapter(source, suite, tmp_path)
    query = _query(adapter, suite)
    body = _body(source, case)
    if "raises" in case:
        with pytest.raises(errors.SourceError) as caught:
            adapter.parse_page(query, case.get("cursor"), case["status"], body)
        assert type(caught.value).__name__ == case["raises"]
        assert suite["secret"] not in str(caught.value)
        assert "\n" not in str(caught.value)
        return
    page = adapter.parse_page(query, case.get("cursor"), case["status"], body)
    assert len(page.records) == case["records"]
    if case["next"] is None:
        assert page.next_cursor is None
    elif case["next"] == "any":
        assert page.next_cursor is not None
    else:
        assert page.next_cursor == case["next"]
    if next_case := case.get("next_request"):
        request = adapter.request(query, page.next_cursor)
        for name, value in next_case.items():
            assert request.params.get(name) == value or (request.json or {}).get(name) == value


@pytest.mark.parametrize(("source", "case"), NORMALISE_CASES)
def test_normalise_case(source: str, case: dict[str, Any], tmp_path: Path) -> None:
    """Each record becomes an Event/Venue with an id and title, or a reject with its reason."""
    suite = SUITES[source]
    adapter = _adapter(source, suite, tmp_path)
    if "records" in case:
        records = _body(source, case, "records")
    else:
        records = adapter.parse_page(
            _query(adapter, suite), case.get("cursor"), 200, _body(source, case)
        ).records
    valid, rejected = 0, {}
    for record in records:
        try:
            item = adapter.normalise(record, FETCHED_AT)
        except errors.RecordRejected as exc:
            rejected[exc.reason] = rejected.get(exc.reason, 0) + 1
            continue
        assert isinstance(item, Event | Venue)
        assert item.source == source
        assert item.source_id
        assert isinstance(item, Venue) or item.title.strip()
        if isinstance(item, Event) and item.starts_at is not None:
            assert item.starts_at.utcoffset() == dt.timedelta(0)
        valid += 1
    assert valid == case["valid"]
    assert rejected == case["rejected"]
