"""The store: the embedded or configured PostgreSQL, migrations and queries (Trio-native API).

``store.db`` holds the API (``open_store``, ``Store``, ``Batch``…); ``store.server``
starts the embedded server. This package imports neither: a crawl starts the embedded
server in one thread while another imports the pipeline (``pipeline.launch``), and
the server's thread must import nothing the pipeline's thread imports — Python's import locks
are taken child before parent, so two threads importing ``store`` and ``store.server``
from opposite ends could wait on each other (CI saw the "deadlock detected" error).
"""
