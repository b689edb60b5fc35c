"""Say clearly what the test run has: Debian's chromium, nginx, Postfix's smtp-sink,
SpamAssassin, a PostgreSQL server, Redis.

`python tests/preflight.py` prints it, and fails when CI demands what is missing
(OWLMAIL_REQUIRE_BROWSER=1, OWLMAIL_REQUIRE_POSTGRES=1, OWLMAIL_REQUIRE_NGINX=1,
OWLMAIL_REQUIRE_POSTFIX=1, OWLMAIL_REQUIRE_SPAMASSASSIN=1; the production test also needs
PostgreSQL and Redis).
`python tests/preflight.py --postgres-ok URI` exits 0 when the suite should also
run on that PostgreSQL (it answers), 1 otherwise.
"""

import os
import socket
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.tools import TOOLS

PG_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URI = "redis://127.0.0.1:6379/15"  # the production test's default


def postgres_answers(uri: str) -> bool:
    import psycopg

    dsn = uri.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def redis_answers(uri: str) -> bool:
    parts = urllib.parse.urlsplit(uri)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def check_tools() -> list[str]:
    """Report each Debian program; the failures CI demands."""
    failures = []
    for tool in TOOLS.values():
        path = tool.found()
        print(f"{tool.name}: {'found, ' + tool.used_for + ' will run' if path else 'NOT FOUND'}")
        if path:
            continue
        print(f"  -> {tool.used_for}: SKIPPED (apt-get install {tool.package} to run them)")
        if tool.required():
            failures.append(f"{tool.name} is required here ({tool.require_env}=1)")
    return failures


def check_services(pg_uri: str, redis_uri: str) -> list[str]:
    """Report PostgreSQL and Redis; the failures CI demands."""
    failures = []
    has_pg = postgres_answers(pg_uri)
    print(f"PostgreSQL at {pg_uri.split('@')[-1]}: "
          f"{'answers, the suite runs twice' if has_pg else 'NOT REACHABLE'}")
    if not has_pg and os.environ.get("OWLMAIL_REQUIRE_POSTGRES") == "1":
        failures.append("PostgreSQL is required here (OWLMAIL_REQUIRE_POSTGRES=1)")
    has_redis = redis_answers(redis_uri)
    print(f"Redis at {redis_uri}: "
          f"{'answers' if has_redis else 'NOT REACHABLE'}")
    production = TOOLS["nginx"]
    if not (has_pg and has_redis):
        print("  -> the production test is SKIPPED (it needs PostgreSQL and Redis)")
        if production.required():
            failures.append(f"the production test needs PostgreSQL and Redis "
                            f"({production.require_env}=1)")
    return failures


def main(argv: list[str]) -> int:
    pg_uri = os.environ.get("OWLMAIL_STACK_DATABASE_URI", PG_URI)
    redis_uri = os.environ.get("OWLMAIL_STACK_REDIS_URI", REDIS_URI)
    if argv[:1] == ["--postgres-ok"]:
        uri = argv[1] if len(argv) > 1 else PG_URI
        ok = postgres_answers(uri)
        if not ok:
            print(f"PostgreSQL at {uri} does not answer: the PostgreSQL run is SKIPPED.")
        return 0 if ok else 1
    failures = check_tools() + check_services(pg_uri, redis_uri)
    for failure in failures:
        print(f"PREFLIGHT FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
