"""The dev outbox is a deliberate development mode: never switched on by a missing setting."""

from tests.conftest import FormClient
from tests.support.db import deliver
from tests.support.pages import wait_for
from tests.support.worker import WorkerProcess

FORM = {"email": "anna@example.org", "name": "Anna", "topics": ["bildung"], "consent": "y"}


def test_without_dev_outbox_there_is_no_dev_outbox_page(app, client):
    assert not app.config["MAIL_SERVER"] and not app.config["DEV_OUTBOX"]
    assert client.get("/dev/outbox").status_code == 404


def test_without_dev_outbox_the_sign_up_page_does_not_point_to_it(client):
    page = FormClient(client).submit("/", FORM, action="/subscribe")
    assert page.status_code == 200 and "/dev/outbox" not in page.text


def test_with_dev_outbox_mail_lands_in_files_shown_at_dev_outbox(make_app):
    app = make_app(DEV_OUTBOX=True)
    client = app.test_client()
    page = FormClient(client).submit("/", FORM, action="/subscribe")
    assert "/dev/outbox" in page.text
    assert deliver(app) == 1
    outbox = client.get("/dev/outbox")
    assert outbox.status_code == 200 and "anna@example.org" in outbox.text


def test_dev_outbox_wins_over_a_configured_mail_server(make_app, smtp, tmp_path):
    app = make_app(DEV_OUTBOX=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    FormClient(app.test_client()).submit("/", FORM, action="/subscribe")
    assert deliver(app) == 1
    assert smtp.received == [] and list((tmp_path / "instance" / "outbox").glob("*.eml"))


def test_sending_without_mail_server_or_dev_outbox_writes_no_file(app, client, tmp_path):
    FormClient(client).submit("/", FORM, action="/subscribe")
    try:
        deliver(app)
    except RuntimeError as exc:
        assert "MAIL_SERVER" in str(exc)
    else:
        raise AssertionError("sending went somewhere without MAIL_SERVER")
    assert not (tmp_path / "instance" / "outbox").exists()


def test_a_worker_without_mail_server_or_dev_outbox_exits_naming_mail_server(app, tmp_path):
    worker = WorkerProcess(app, tmp_path / "worker.log").start()
    try:
        code = worker.process.wait(60)
    finally:
        worker.stop_quietly()
    assert code != 0
    assert "MAIL_SERVER" in worker.log()


def test_the_scheduler_of_make_run_refuses_to_send_without_mail_server(make_app, caplog):
    app = make_app(SCHEDULER_ENABLED=True)  # as `make run` would, minus DEV_OUTBOX
    wait_for(lambda: "MAIL_SERVER" in caplog.text, timeout=5)
    assert "owlmail.scheduler" not in app.extensions
