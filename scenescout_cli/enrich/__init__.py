"""Pure record enrichment: validation, sanitisation, zones, money and de-duplication.

Plain functions on attrs objects, no I/O and no Trio: the ingestion stage calls them
per record inside its isolation boundary (``RecordRejected`` → rejects table).

Import from the modules themselves (``enrich.dedup``, ``enrich.sanitize``, …): this
package imports none of them, so that a process needing one (a worker loading the
classifier) does not pay for all (de-duplication's ~30 ms of patterns, rapidfuzz).
"""
