"""Cross-source de-duplication inside ingestion: provider record → canonical event.

``Linker`` holds the crawl's de-duplication state: the canonical events already in
the database for the crawl's window (with each one's provider records) and those
this run creates. ``link`` finds a record's canonical event — the one it was linked
to before, else the one ``DedupIndex`` matches (blocking on time and place, then
fuzzy titles and venues), else a new one — and returns the canonical event merged
afresh from all its records, so the stored result does not depend on arrival order.

Memory: the Linker keeps each record without its raw payload (merging never reads
it; storage gets the full record from the ``Linked`` item), so what a crawl holds
per event is its normalised fields and the index's features.

Pure and synchronous: the ingestion task calls it once per record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import attrs

from ..enrich.dedup import DedupIndex, merge
from ..model import Event, event_id_for


class Linker:
    """De-duplication state of one crawl (see module docstring)."""

    def __init__(self, known: Iterable[tuple[uuid.UUID, Event]] = ()) -> None:
        self.index = DedupIndex()
        self.members: dict[uuid.UUID, dict[tuple[str, str], Event]] = {}
        self.links: dict[tuple[str, str], uuid.UUID] = {}
        #: records that joined a canonical event holding another source's record
        self.merged_across_sources = 0
        for event_id, record in known:
            self._add(event_id, record)

    def _add(self, event_id: uuid.UUID, record: Event) -> None:
        identity = (record.source, record.source_id)
        self.index.add(event_id, record)
        if record.raw:
            record = attrs.evolve(record, raw={})
        self.members.setdefault(event_id, {})[identity] = record
        self.links[identity] = event_id

    def link(self, record: Event) -> tuple[uuid.UUID, Event, int]:
        """(canonical event id, canonical event merged from all its records, how many)."""
        identity = (record.source, record.source_id)
        event_id = self.links.get(identity)
        if event_id is None:
            matched = self.index.match(record)
            event_id = matched if isinstance(matched, uuid.UUID) else event_id_for(*identity)
            others = self.members.get(event_id, {})
            if any(source != record.source for source, _ in others):
                self.merged_across_sources += 1
        self._add(event_id, record)
        members = list(self.members[event_id].values())
        return event_id, merge(members), len(members)

    def __len__(self) -> int:
        return len(self.members)
