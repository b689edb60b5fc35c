"""Debian programs some tests need, and whether this run may do without them.

On a person's machine a test whose program is missing is skipped with a clear reason; where
CI demands the program (OWLMAIL_REQUIRE_<NAME>=1, set by .ci/run) it fails instead.
tests/preflight.py reports the same table before the suite starts.
"""

import os
import shutil
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Tool:
    name: str
    path: str  # where Debian's package puts it
    package: str
    require_env: str
    used_for: str

    def found(self) -> str | None:
        """The program's path when it is installed."""
        if os.access(self.path, os.X_OK):
            return self.path
        return shutil.which(self.name)

    def required(self) -> bool:
        return os.environ.get(self.require_env) == "1"


TOOLS = {
    tool.name: tool
    for tool in (
        Tool("chromium", "/usr/bin/chromium", "chromium", "OWLMAIL_REQUIRE_BROWSER",
             "browser tests"),
        Tool("nginx", "/usr/sbin/nginx", "nginx-light", "OWLMAIL_REQUIRE_NGINX",
             "the production test (nginx, gunicorn, PostgreSQL, Redis, worker, relay)"),
        Tool("smtp-sink", "/usr/sbin/smtp-sink", "postfix", "OWLMAIL_REQUIRE_POSTFIX",
             "tests and benches that need a fast SMTP sink"),
        Tool("postfix", "/usr/sbin/postfix", "postfix", "OWLMAIL_REQUIRE_POSTFIX",
             "bounce tests with delivery reports written by a real Postfix"),
        Tool("spamassassin", "/usr/bin/spamassassin", "spamassassin",
             "OWLMAIL_REQUIRE_SPAMASSASSIN", "spam-score tests of outgoing mail"),
    )
}


def need(name: str) -> str:
    """The program's path; skips the test when it is missing, fails when CI requires it."""
    tool = TOOLS[name]
    path = tool.found()
    if path:
        return path
    reason = f"{tool.name} is not installed (apt-get install {tool.package})"
    if tool.required():
        pytest.fail(f"{reason}, but {tool.require_env}=1 requires it")
    pytest.skip(reason)
