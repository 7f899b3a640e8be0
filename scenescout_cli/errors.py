"""The one exception tree, organised by what the caller does with each error.

    ScenescoutError
     ├── ConfigError            bad flag, value or file        → exit 2
     ├── LockHeld               another crawl of the city runs → exit 3
     ├── DatabaseUnavailable    cannot reach or start the DB   → exit 4
     └── SourceError            one source failed; others go on
          ├── SourceAuthError       credentials refused (401/403)
          ├── SourceQuotaError      daily quota used up
          ├── SourceRateLimited     429 the retry budget could not absorb
          ├── UpstreamError         5xx, transport faults, bad bodies, 4xx we did not expect
          └── SourceUnavailable     the circuit breaker gave the source up

    RecordRejected(reason)      per-record control signal: the record goes to the rejects table

Messages are one line and never carry secrets.
"""

from __future__ import annotations


class ScenescoutError(Exception):
    """Base of every error scenescout raises on purpose."""


class ConfigError(ScenescoutError):
    """A bad command-line flag, environment variable or config-file value."""


class LockHeld(ScenescoutError):
    """Another crawl of the same city holds the advisory lock."""


class DatabaseUnavailable(ScenescoutError):
    """The database cannot be reached, started or migrated."""


class SourceError(ScenescoutError):
    """A provider failed in a way that stops this query or this source."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class SourceAuthError(SourceError):
    """The provider refused our credentials."""


class SourceQuotaError(SourceError):
    """The provider's (or our ledger's) quota for the day is used up."""


class SourceRateLimited(SourceError):
    """The provider kept answering 429 past our retry budget."""


class UpstreamError(SourceError):
    """Server errors, transport faults, malformed bodies, unexpected 4xx.

    ``status`` is the HTTP status when there was a response; ``code`` the provider's
    own error code when it sent one (``DIS1035``, ``INVALID_ARGUMENT``, …).
    """

    def __init__(
        self, source: str, message: str, *, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(source, message)
        self.status = status
        self.code = code


class SourceUnavailable(SourceError):
    """The source failed so persistently that its circuit breaker gave it up."""


class RecordRejected(ScenescoutError):
    """A provider record failed validation; ``reason`` is a short stable slug."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
