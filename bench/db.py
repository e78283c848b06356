"""The benchmarks' own databases, on the PostgreSQL server of ``DATABASE_URL``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "postgres://root@127.0.0.1:5432/limber"


def server_url() -> str:
    """``DATABASE_URL`` (or the development default): the server the benchmarks create their databases on."""
    return os.environ.get("DATABASE_URL", DEFAULT_URL)


def url_for(url: str, name: str) -> str:
    """``url`` with its path (the database, or a Redis database number) replaced by ``name``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def admin(url: str, *statements: str) -> None:
    """Run ``statements`` (CREATE/DROP DATABASE) on the server's ``postgres`` database, outside a transaction."""
    import psycopg

    with psycopg.connect(url_for(url, "postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
