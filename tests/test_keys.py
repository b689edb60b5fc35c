"""Keys kept in instance/: created once, atomically, private; the suppression list's
address hash is keyed with a key of its own."""

import hashlib
import hmac
import multiprocessing
import stat

import pytest
from sqlalchemy import literal, select, text

from owlmail import create_app
from owlmail.addresses import address_hash, address_hash_sql
from owlmail.extensions import db
from owlmail.keyfiles import instance_secret
from owlmail.subscriptions.models import Suppression
from owlmail.subscriptions.services import is_suppressed

ROUNDS = 40
RACERS = 4


def _start_at_once(barrier, directories, results) -> None:
    """One process of the race: at every round, need the key the moment the other does."""
    for directory in directories:
        barrier.wait()
        results.put((directory, instance_secret(directory, "secret_key")))


@pytest.mark.slow
def test_processes_starting_at_once_end_with_one_private_key(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    directories = [str(tmp_path / f"round{n}") for n in range(ROUNDS)]
    for directory in directories:
        (tmp_path / directory).mkdir()
    processes = [context.Process(target=_start_at_once, args=(barrier, directories, results))
                 for _ in range(RACERS)]
    for process in processes:
        process.start()
    seen: dict[str, set[str]] = {}
    for _ in range(RACERS * ROUNDS):
        directory, key = results.get(timeout=60)
        seen.setdefault(directory, set()).add(key)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    for directory, keys in seen.items():
        path = tmp_path / directory / "secret_key"
        assert keys == {path.read_text()}, f"{directory}: one start, several keys"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temp files


def test_a_key_written_meanwhile_by_another_process_is_the_one_kept(tmp_path, monkeypatch):
    from pathlib import Path

    (tmp_path / "secret_key").write_text("the-winners-key")
    # This process looked a moment earlier, when there was no file yet.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert instance_secret(tmp_path, "secret_key") == "the-winners-key"
    assert (tmp_path / "secret_key").read_text() == "the-winners-key"


def test_secret_and_suppression_keys_are_generated_once_and_differ(tmp_path):
    def build():
        return create_app({"TESTING": True}, instance_path=str(tmp_path / "instance"))

    first, second = build(), build()
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["SUPPRESSION_KEY"] == second.config["SUPPRESSION_KEY"]
    assert first.config["SUPPRESSION_KEY"] != first.config["SECRET_KEY"]
    key_file = tmp_path / "instance" / "suppression_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_suppression_hash_cannot_be_guessed_without_the_key(make_app):
    app = make_app(SUPPRESSION_KEY="geheim")
    with app.app_context():
        digest = address_hash("anna@example.org")
    assert digest != hashlib.sha256(b"anna@example.org").hexdigest()
    assert digest == hmac.new(b"geheim", b"anna@example.org", hashlib.sha256).hexdigest()


def test_rotating_the_secret_key_keeps_the_suppression_hash(make_app):
    app = make_app(SUPPRESSION_KEY="geheim")
    with app.app_context():
        before = address_hash("anna@example.org")
        app.config["SECRET_KEY"] = "a-new-secret"
        assert address_hash("anna@example.org") == before


def test_the_database_computes_the_same_keyed_hash(make_app):
    long_key = "k" * 100  # longer than SHA-256's block: HMAC hashes the key first
    for key in ("geheim", long_key):
        app = make_app(SUPPRESSION_KEY=key)
        with app.app_context():
            for address in ("anna@example.org", "jörg@bücher.de", ""):
                in_database = db.session.scalar(
                    select(address_hash_sql(db.session, literal(address))))
                assert in_database == address_hash(address), (key, address)
            db.session.rollback()


def _plain(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()


def test_upgrading_rekeys_known_addresses_and_still_honours_erased_ones(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite'}",
                      "SECRET_KEY": "x", "SUPPRESSION_KEY": "geheim"},
                     instance_path=str(tmp_path / "instance"))
    cli = app.test_cli_runner()
    assert cli.invoke(args=["db", "upgrade", "0002"]).exit_code == 0
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO subscribers (email, email_key, name, status, source, created_at, "
            "requested_at, token_key) VALUES ('b@example.org', 'b@example.org', '', "
            "'bounced', 'web', '2025-01-01', '2025-01-01', 'k')"))
        db.session.execute(text(
            "INSERT INTO suppressions (email_hash, reason, created_at) VALUES "
            "(:bounced, 'hard_bounce', '2025-01-01'), (:erased, 'erased', '2025-01-01')"),
            {"bounced": _plain("b@example.org"), "erased": _plain("weg@example.org")})
        db.session.commit()
    result = cli.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        rows = {row.reason: row for row in db.session.scalars(select(Suppression))}
        assert rows["hard_bounce"].email_hash == address_hash("b@example.org")
        assert rows["hard_bounce"].keyed
        assert rows["erased"].email_hash == _plain("weg@example.org")
        assert not rows["erased"].keyed
        assert is_suppressed("weg@example.org")  # the erased person stays suppressed
        db.session.commit()
        assert db.session.scalar(select(Suppression.email_hash).filter_by(
            reason="erased")) == address_hash("weg@example.org")  # and is keyed from now on
        db.session.remove()
        db.engine.dispose()
