"""Subscribers come in and go out as CSV, with their proof of consent."""

import csv
import io
import json

import pytest
from sqlalchemy import select

from owlmail import erasure
from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail
from owlmail.outbox.services import drain_outbox
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from tests.support.pages import hidden_fields, links_in
from tests.test_admin import add_subscriber

HEADER = "email,name,topics,status,confirmed_at,consent_source\n"

GOOD_AND_BAD = HEADER + (
    "anna@beispiel.de,Anna Schmidt,bildung;it,confirmed,2024-05-17T09:30:00+02:00,"
    "Anmeldekarte Digitalgipfel 2024\n"                                          # 2 confirmed
    "jürgen@beispiel.de,Jürgen,,,,\n"                                            # 3 umlaut local
    "info@bücher.de,Bücherstube Müller,gruendung,pending,,\n"                    # 4 IDN, pending
    "kein-at-zeichen,Ohne,,,,\n"                                                 # 5 bad address
    "otto@beispiel.de,Otto,kochen,,,\n"                                          # 6 unknown topic
    "berta@beispiel.de,Berta,,confirmed,17.05.2024,Messe\n"                      # 7 bad date
    "carl@beispiel.de,Carl\n"                                                    # 8 columns
    '"dora@beispiel.de","Dora\r\nBcc: x@evil.example",,,,\n'                     # 9-10 CRLF
    "emil@beispiel.de,Emil,innovation,confirmed,2024-01-02T10:00:00Z,\n"         # 11 no source
    "ANNA@beispiel.de,Anna doppelt,,,,\n"                                        # 12 duplicate
    "frieda@beispiel.de,Frieda,,unsubscribed,,\n"                                # 13 bad status
    "gustav@beispiel.de,Gustav,,confirmed,2999-01-01T00:00:00+00:00,Zukunft\n"   # 14 future
)


def write(tmp_path, text: str, name="liste.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def by_email(app, email):
    with app.app_context():
        row = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        if row is not None:
            row.topics, row.consent_events  # noqa: B018 (load before leaving the session)
        db.session.expunge_all()
        return row


# --- import on the command line --------------------------------------------

def test_cli_import_takes_the_good_rows_and_names_each_bad_line(app, runner, tmp_path):
    result = runner.invoke(args=["subscribers", "import", write(tmp_path, GOOD_AND_BAD)])
    assert result.exit_code == 0, result.output
    out = result.output
    for line, words in [(3, "Umlauten"), (5, "gültige E-Mail-Adresse"), (6, "kochen"),
                        (7, "ISO 8601"), (8, "2 statt 6 Spalten"), (9, "Zeilenumbruch"),
                        (12, "wie Zeile 2"), (13, "unsubscribed"), (14, "Zukunft")]:
        assert f"Zeile {line}: Fehler: " in out and words in out, (line, words)
    assert "Importiert: 3 (1 bestätigt, 2 mit Bestätigungsmail)" in out
    anna = by_email(app, "anna@beispiel.de")
    assert anna.status == SubscriberStatus.CONFIRMED
    assert anna.confirmed_at.isoformat() == "2024-05-17T07:30:00"
    assert sorted(t.slug for t in anna.topics) == ["bildung", "it"]
    [event] = anna.consent_events
    assert event.action == "imported"
    assert event.source_url == "Anmeldekarte Digitalgipfel 2024"
    assert by_email(app, "info@bücher.de").status == SubscriberStatus.PENDING
    assert by_email(app, "emil@beispiel.de").status == SubscriberStatus.PENDING  # no source
    assert by_email(app, "dora@beispiel.de") is None


def test_pending_rows_get_a_confirmation_mail_and_never_a_newsletter(smtp_app, smtp, tmp_path):
    runner = smtp_app.test_cli_runner()
    text = HEADER + "info@bücher.de,Bücherstube Müller,gruendung,,,\n"
    assert runner.invoke(args=["subscribers", "import", write(tmp_path, text)]).exit_code == 0
    with smtp_app.app_context():
        assert [m.kind for m in db.session.scalars(select(OutboxMail))] == ["confirm"]
        drain_outbox()
    [mail] = smtp.messages_to("info@xn--bcher-kva.de")
    assert "bestätigen" in str(mail["Subject"])
    assert "Bücherstube Müller" in str(mail["To"])
    [link] = links_in(mail, "/confirm/")
    client = smtp_app.test_client()
    path = link.removeprefix("http://owlmail.test")
    page = client.get(path)
    client.post(path, data=hidden_fields(page.data))
    assert by_email(smtp_app, "info@bücher.de").status == SubscriberStatus.CONFIRMED


def test_import_never_downgrades_or_resubscribes_existing_people(app, runner, tmp_path):
    with app.app_context():
        add_subscriber("anna@beispiel.de")
        add_subscriber("ben@beispiel.de", status=SubscriberStatus.UNSUBSCRIBED)
    text = HEADER + "anna@beispiel.de,Anna,,pending,,\nben@beispiel.de,Ben,,,,\n"
    result = runner.invoke(args=["subscribers", "import", write(tmp_path, text)])
    assert "Zeile 2: Schon vorhanden" in result.output
    assert "Zeile 3: Schon vorhanden" in result.output
    assert by_email(app, "anna@beispiel.de").status == SubscriberStatus.CONFIRMED
    assert by_email(app, "ben@beispiel.de").status == SubscriberStatus.UNSUBSCRIBED
    with app.app_context():
        assert db.session.scalar(select(OutboxMail)) is None


def test_an_erased_address_is_never_imported_again(app, runner, tmp_path):
    with app.app_context():
        person = db.session.get(Subscriber, add_subscriber("Geloescht@Beispiel.de"))
        erasure.erase_person(person)
        db.session.commit()
    text = HEADER + "GELOESCHT@beispiel.de,Wieder da,,confirmed,2024-01-01T00:00:00Z,Messe\n"
    result = runner.invoke(args=["subscribers", "import", write(tmp_path, text)])
    assert "Zeile 2: Gesperrt" in result.output
    assert "Importiert: 0" in result.output
    assert by_email(app, "GELOESCHT@beispiel.de") is None


@pytest.mark.parametrize("text, message", [
    ("", "leer"),
    ("mail,name\nanna@beispiel.de,Anna\n", "Spalten"),
    (HEADER + '"anna@beispiel.de,Anna\n', "nicht lesbar"),
])
def test_a_file_that_is_not_our_csv_is_refused_as_a_whole(app, runner, tmp_path, text, message):
    result = runner.invoke(args=["subscribers", "import", write(tmp_path, text)])
    assert result.exit_code == 1
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(select(Subscriber)) is None


def test_import_reads_a_bom_crlf_and_only_the_email_column(app, runner, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffemail\r\nzoe@beispiel.de\r\n".encode())
    result = runner.invoke(args=["subscribers", "import", str(path)])
    assert "Importiert: 1" in result.output
    assert by_email(app, "zoe@beispiel.de").status == SubscriberStatus.PENDING


# --- export ----------------------------------------------------------------

def exported(runner) -> list[dict]:
    result = runner.invoke(args=["subscribers", "export"])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def test_export_has_the_interface_columns_and_the_consent_history(app, runner):
    with app.app_context():
        add_subscriber("anna@beispiel.de", name="Anna", topics=("bildung", "it"))
    [row] = exported(runner)
    assert list(row) == ["email", "name", "topics", "status", "confirmed_at",
                         "consent_source", "consent_history", "organisation", "kreis"]
    assert row["email"] == "anna@beispiel.de"
    assert sorted(row["topics"].split(";")) == ["bildung", "it"]
    assert row["consent_source"] == "https://owl-morgen.de/"
    [event] = json.loads(row["consent_history"])
    assert event["action"] == "requested" and event["ip"] == "192.0.2.7"


def test_export_cells_never_start_a_formula_and_import_reads_them_back(app, runner,
                                                                       tmp_path):
    with app.app_context():
        add_subscriber("-minus@beispiel.de", name='=HYPERLINK("http://evil.example","x")')
    [row] = exported(runner)
    assert row["email"] == "'-minus@beispiel.de"
    assert row["name"].startswith("'=HYPERLINK")
    again = HEADER + "'-zwei@beispiel.de,'=Summe,,,,\n"
    runner.invoke(args=["subscribers", "import", write(tmp_path, again)])
    assert by_email(app, "-zwei@beispiel.de").name == "=Summe"


def test_export_to_a_file(app, runner, tmp_path):
    with app.app_context():
        add_subscriber("anna@beispiel.de")
    result = runner.invoke(args=["subscribers", "export", "-o", str(tmp_path / "a.csv")])
    assert result.exit_code == 0
    content = (tmp_path / "a.csv").read_text(encoding="utf-8")
    assert content.startswith("email,name,topics,status,confirmed_at,consent_source,")
    assert "anna@beispiel.de" in content


def test_export_page_streams_csv_for_editors(app, editor_client):
    with app.app_context():
        for n in range(3):
            add_subscriber(f"person{n}@beispiel.de",
                           status=SubscriberStatus.PENDING if n else SubscriberStatus.CONFIRMED)
    answer = editor_client.get("/admin/subscribers/export.csv?status=confirmed")
    assert answer.is_streamed
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [r["email"] for r in rows] == ["person0@beispiel.de"]


# --- import page -----------------------------------------------------------

def upload(client, content: bytes, filename="liste.csv"):
    token = hidden_fields(client.get("/admin/import").data)["csrf_token"]
    return client.post("/admin/import", data={"csrf_token": token,
                                              "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def test_the_import_page_reports_every_line(app, admin_client):
    answer = upload(admin_client, GOOD_AND_BAD.encode())
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "<td>5</td>" in page and "<td>14</td>" in page
    assert "bestätigt übernommen" in page
    with app.app_context():
        event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.action == "imported"))
        assert "von admin@owl-morgen.de" in event.detail


def test_the_import_page_refuses_files_not_in_utf8(admin_client):
    answer = upload(admin_client, (HEADER + "jörg@beispiel.de,Jörg,,,,\n").encode("latin-1"))
    assert answer.status_code == 400
    assert "nicht in UTF-8" in answer.get_data(as_text=True)


def test_a_2_mb_upload_gets_a_german_413(admin_client):
    rows = "".join(f"person{n}@beispiel.de,Name {n},,,,\n" for n in range(60_000))
    content = (HEADER + rows).encode()
    assert len(content) > 2_000_000
    answer = upload(admin_client, content)
    assert answer.status_code == 413
    assert "zu groß" in answer.get_data(as_text=True)


def test_the_import_page_sends_long_lists_to_the_command_line(app, admin_client):
    rows = "".join(f"p{n}@beispiel.de,,,,,\n" for n in range(2001))
    answer = upload(admin_client, (HEADER + rows).encode())
    assert answer.status_code == 413
    assert "Kommandozeile" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Subscriber)) is None


def test_editors_may_not_import(editor_client):
    assert editor_client.get("/admin/import").status_code == 403
