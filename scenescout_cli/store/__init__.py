"""The store: the embedded or configured PostgreSQL, migrations and queries (Trio-native API)."""

from .db import (
    EVENT_COLUMNS,
    Batch,
    Link,
    Plan,
    Progress,
    QueryProgress,
    Store,
    WriteResult,
    open_store,
    redact_url,
)

__all__ = [
    "EVENT_COLUMNS",
    "Batch",
    "Link",
    "Plan",
    "Progress",
    "QueryProgress",
    "Store",
    "WriteResult",
    "open_store",
    "redact_url",
]
