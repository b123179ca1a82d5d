"""The PostgreSQL tracking store (``postgresql://user@host:port/db``), for team servers.

Several ``mltrack server`` processes can serve one database: every bit of state (runs,
ingest sequence numbers, heartbeats) lives in it. See docs/postgres.md.
"""
