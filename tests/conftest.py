"""Fixtures: a fresh database per test (SQLite, or PostgreSQL when asked), a real SMTP
server on loopback, and a guard that fails any test reaching beyond this machine."""

import ipaddress
import os
import socket

import pytest
from sqlalchemy import text

from owlmail import create_app
from owlmail.auth import sessions
from owlmail.extensions import db
from owlmail.subscriptions.fields.seed import seed_fields
from owlmail.subscriptions.seed import seed_topics
from tests.support.dkim import SETTINGS as DKIM_SETTINGS
from tests.support.pages import hidden_fields
from tests.support.smtp import SmtpServer

PG_URI = os.environ.get("OWLMAIL_TEST_DATABASE_URI")


def _is_local(address) -> bool:
    if isinstance(address, str | bytes) or not isinstance(address, tuple):
        return True  # unix socket
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch):
    """A test that opens a connection beyond loopback fails instead of leaking out."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        if not _is_local(address):
            raise AssertionError(f"test tried to reach {address!r} outside this machine")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _smtp_server_reachable():
    """Each test starts with the engine's SMTP server considered reachable: a test that
    played an outage must not make a later one wait for its back-off."""
    from owlmail.delivery.engine import _ServerState

    _ServerState.up()
    yield
    _ServerState.up()


def pytest_report_header(config):
    return f"owlmail database: {'PostgreSQL ' + PG_URI if PG_URI else 'SQLite (a file per test)'}"


@pytest.fixture(scope="session")
def _postgres_schema():
    """On PostgreSQL: build the schema once per run; tests empty the tables after themselves."""
    if not PG_URI:
        yield None
        return
    app = create_app({"SQLALCHEMY_DATABASE_URI": PG_URI, "TESTING": True, "SECRET_KEY": "x"})
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield PG_URI
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def base_config(tmp_path, database_uri: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "RATELIMIT_ENABLED": False,
        "FORM_MIN_SECONDS": 0,
        "TOPIC_CACHE_SECONDS": 0,
        "BASE_URL": "http://owlmail.test",
        "SERVER_NAME": None,
        "MAIL_SERVER": None,
    }


@pytest.fixture
def make_app(tmp_path, _postgres_schema):
    """Build an app with extra settings; the database is fresh for each test."""
    apps = []

    def factory(**overrides):
        uri = _postgres_schema or f"sqlite:///{tmp_path / 'owlmail.sqlite'}"
        app = create_app({**base_config(tmp_path, uri), **DKIM_SETTINGS, **overrides},
                         instance_path=str(tmp_path / "instance"))
        with app.app_context():
            if not apps:
                if not _postgres_schema:
                    db.create_all()
                seed_topics()
                seed_fields()
                db.session.commit()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            if _postgres_schema and app is apps[0]:
                tables = ", ".join(t.name for t in db.metadata.sorted_tables)
                db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                db.session.commit()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_app(make_app, smtp):
    """An app that delivers to the loopback SMTP server."""
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)


class FormClient:
    """A test client that fills forms the way a browser does (hidden fields included)."""

    def __init__(self, client):
        self.client = client

    def submit(self, page_url: str, data: dict, action: str | None = None, **kwargs):
        form_page = self.client.get(page_url)
        fields = hidden_fields(form_page.data)
        return self.client.post(action or page_url, data={**fields, **data}, **kwargs)


@pytest.fixture
def make_editor(app):
    """Create an editor account: make_editor("a@owl-morgen.de", role="admin") -> Editor."""
    from owlmail.auth.models import Role
    from owlmail.auth.services import create_editor

    def factory(email="redaktion@owl-morgen.de", password="richtig-langes-passwort",
                role="editor"):
        with app.app_context():
            editor = create_editor(email, password, Role(role))
            db.session.commit()
            return editor.id

    return factory


def log_in(client, editor_id: int) -> None:
    """Log a test client in as an editor without going through the login form."""
    with client.application.app_context():
        key = sessions.new_key(editor_id)
        db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = str(editor_id)
        session["_fresh"] = True
        session[sessions.SESSION_KEY] = key


@pytest.fixture
def editor_client(app, make_editor):
    """A test client logged in as an editor (role `editor`)."""
    client = app.test_client()
    log_in(client, make_editor())
    return client


@pytest.fixture
def admin_client(app, make_editor):
    """A test client logged in as an admin."""
    client = app.test_client()
    log_in(client, make_editor("admin@owl-morgen.de", role="admin"))
    return client


@pytest.fixture
def browser_form(client):
    return FormClient(client)


from tests.support.browser import _browser, _csp_refusals, live_server, page  # noqa: E402, F401
