"""Check that PostgreSQL and Redis answer before anything starts; create the database if missing; check that
WeasyPrint's system libraries (Pango, HarfBuzz, fonts) load, for the printable program's PDF.

Run as ``python -m config.preflight``. On failure it names the service and how to start it (or the Debian packages
to install), and exits 1 without a traceback.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

import psycopg
import redis
from psycopg import sql

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
PDF_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core"
"""The Debian packages WeasyPrint needs at run time (its wheels bring the rest): Pango and its FreeType backend,
HarfBuzz's font subsetter, and a font (DejaVu, the program's stylesheet names it first)."""
START_REDIS = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def _fail(what: str, url: str, error: Exception, how: str) -> None:
    print(f"\n✗ {what} is not reachable at {url}: {str(error).strip().splitlines()[0]}", file=sys.stderr)
    print(f"  Start it with:\n    {how}\n", file=sys.stderr)
    sys.exit(1)


def check_postgres(database_url: str) -> None:
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/") or "limber"
    server = parsed._replace(path="/postgres").geturl()
    shown = f"{parsed.hostname or 'localhost'}:{parsed.port or 5432}"
    try:
        with psycopg.connect(server, connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"✓ created database {name}")
    except psycopg.OperationalError as exc:
        _fail("PostgreSQL", shown, exc, START_POSTGRES)
    print(f"✓ PostgreSQL at {shown} (database {name})")


def check_redis(redis_url: str) -> None:
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        _fail("Redis", redis_url, exc, START_REDIS)
    print(f"✓ Redis at {redis_url}")


def check_pdf() -> None:
    """WeasyPrint loads Pango when imported; a one-line PDF proves the rest (HarfBuzz, fontconfig, a font)."""
    try:
        import weasyprint  # here, not at the top: importing it is the check (it loads Pango)

        pdf = weasyprint.HTML(string="<p>Limber</p>").write_pdf()
        if not pdf.startswith(b"%PDF-"):
            raise OSError("WeasyPrint rendered no PDF")
    except (OSError, ImportError) as exc:
        print(f"\n✗ WeasyPrint cannot render PDF: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        print("  The printable program needs Pango. On Debian or Ubuntu install:", file=sys.stderr)
        print(f"    apt-get install -y {PDF_PACKAGES}\n", file=sys.stderr)
        sys.exit(1)
    print(f"✓ WeasyPrint {weasyprint.__version__} renders PDF (Pango loaded)")


def main() -> None:
    check_postgres(os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/limber"))
    check_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    check_pdf()


if __name__ == "__main__":
    main()
