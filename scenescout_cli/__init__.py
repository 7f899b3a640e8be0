"""scenescout: find every public event in a city and keep one clean copy of each in PostgreSQL."""

__version__ = "0.1.0"
