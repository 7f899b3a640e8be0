"""The crawl pipeline: planner → discovery → ingestion → processing → storage."""

from .run import EXIT_CODES, CrawlOptions, CrawlResult, crawl
from .stats import RunStats

__all__ = ["EXIT_CODES", "CrawlOptions", "CrawlResult", "RunStats", "crawl"]
