"""Say clearly what the test run has: Debian's chromium, a PostgreSQL server.

`python tests/preflight.py` prints it, and fails when CI demands what is missing
(OWLMAIL_REQUIRE_BROWSER=1, OWLMAIL_REQUIRE_POSTGRES=1).
`python tests/preflight.py --postgres-ok URI` exits 0 when the suite should also
run on that PostgreSQL (it answers), 1 otherwise.
"""

import os
import shutil
import sys

CHROMIUM = "/usr/bin/chromium"


def postgres_answers(uri: str) -> bool:
    import psycopg

    dsn = uri.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def main(argv: list[str]) -> int:
    uri = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    if argv[:1] == ["--postgres-ok"]:
        uri = argv[1] if len(argv) > 1 else uri
        ok = postgres_answers(uri)
        if not ok:
            print(f"PostgreSQL at {uri} does not answer: the PostgreSQL run is SKIPPED.")
        return 0 if ok else 1

    failures = []
    has_browser = os.path.exists(CHROMIUM) or shutil.which("chromium")
    print(f"chromium: {'found, browser tests will run' if has_browser else 'NOT FOUND'}")
    if not has_browser:
        print("  -> browser tests are SKIPPED (apt-get install chromium to run them)")
        if os.environ.get("OWLMAIL_REQUIRE_BROWSER") == "1":
            failures.append("chromium is required here (OWLMAIL_REQUIRE_BROWSER=1)")
    has_pg = postgres_answers(uri)
    state = "answers, the suite runs twice" if has_pg else "NOT REACHABLE"
    print(f"PostgreSQL at 127.0.0.1:5432/test: {state}")
    if not has_pg and os.environ.get("OWLMAIL_REQUIRE_POSTGRES") == "1":
        failures.append("PostgreSQL is required here (OWLMAIL_REQUIRE_POSTGRES=1)")
    for failure in failures:
        print(f"PREFLIGHT FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
