"""Every channel capacity and batch size of the pipeline, in one place.

Small buffers: back-pressure, not buffering, keeps memory flat however large the city.
They also bound what an interrupted crawl must drain before it exits (everything
fetched is stored): about 4 pages here, up to 8 more in ingestion (packed; in the
engine, two batches or one and the answer of the last; and the answer being handed on:
pipeline/ingest_stage.py's ENGINE_BATCH and ENGINE_AHEAD), 512 + 512 items and one batch —
under two seconds at 100k events (``scenescout bench``).
"""

#: planner → discovery, per source: queries waiting for that source's fetchers.
SOURCE_QUERIES = 4
#: discovery → ingestion: pages of raw records (each up to a provider page, e.g. 200).
RAW_PAGES = 4
#: ingestion → processing, and processing → storage: single events or rejects.
EVENTS = 512
STORE = 512

#: storage writes a batch when it holds this many items …
STORE_BATCH_SIZE = 500
#: … or when its oldest item has waited this long (seconds).
STORE_BATCH_MAX_AGE = 1.0

#: concurrent requests per source.
SOURCE_CONCURRENCY = 2
