"""The crawl pipeline: planner → discovery → ingestion → processing → storage.

The crawl itself is ``pipeline.run.crawl``. This package imports nothing on its own:
the worker processes import only the stages they run (ingestion's engine, for one,
needs neither the database nor HTTP nor Trio: ``engine_host``), and each interpreter's
start-up is CPU taken from the crawl.
"""
