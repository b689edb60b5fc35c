"""The files in deploy/ say what the README promises (the production test runs them)."""

import re

from owlmail.config import Defaults
from tests.support.stack import DEPLOY, UPSTREAM, environment_file, unit_command

SERVER_BLOCK = (DEPLOY / "nginx" / "owlmail.conf").read_text()


def test_the_environment_file_trusts_one_proxy_keeps_limits_in_redis_and_no_outbox():
    env = environment_file()

    assert env["OWLMAIL_TRUSTED_PROXY_COUNT"] == "1"
    assert env["OWLMAIL_RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert env["OWLMAIL_MAIL_USE_TLS"] == "true"
    assert "OWLMAIL_DEV_OUTBOX" not in env


def test_nginx_sets_the_forwarded_headers_itself_instead_of_passing_the_clients_on():
    for header, value in {"X-Forwarded-For": "$remote_addr", "X-Forwarded-Proto": "$scheme",
                          "X-Forwarded-Host": "$http_host"}.items():
        assert re.search(rf"proxy_set_header\s+{header}\s+{re.escape(value)};", SERVER_BLOCK)
    assert "$proxy_add_x_forwarded_for" not in SERVER_BLOCK


def test_nginx_takes_bodies_as_large_as_the_app_and_no_larger():
    size = re.search(r"client_max_body_size\s+(\d+)([km]?);", SERVER_BLOCK)

    assert int(size[1]) * {"": 1, "k": 1024, "m": 1024**2}[size[2]] == Defaults.MAX_CONTENT_LENGTH


def test_gunicorn_runs_three_workers_where_nginx_sends_the_requests():
    command = unit_command("owlmail-web.service")

    assert command[command.index("--workers") + 1] == "3"
    assert command[command.index("--bind") + 1] == UPSTREAM
    assert f"proxy_pass http://{UPSTREAM};" in SERVER_BLOCK
    assert unit_command("owlmail-worker.service")[1:] == ["--app", "owlmail", "worker"]
