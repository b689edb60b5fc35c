"""The contact and ideas form: a message reaches the team, never anyone else, and the
editors work through it in their inbox until it expires."""

import csv
import io
from datetime import timedelta
from email.utils import getaddresses
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import select, update

from owlmail.contact.models import ContactMessage, ContactStatus
from owlmail.contact.services import purge_expired_messages
from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail
from owlmail.subscriptions.models import Subscriber, Topic
from owlmail.timeutil import utcnow
from tests.conftest import FormClient, log_in
from tests.support.db import count, deliver
from tests.support.pages import hidden_fields

TEAM = "info@owl-morgen.de"
FORM = {"name": "Jana Schäfer", "email": "jana@example.org", "topic": "bildung",
        "message": "Wie wäre ein Makerspace in jeder Schule?\nViele Grüße", "consent": "y"}


def write(client, **changes):
    """Fill the contact form like a browser (hidden fields included) and send it."""
    data = {key: value for key, value in {**FORM, **changes}.items() if value is not None}
    return FormClient(client).submit("/contact", data)


def body_of(mail) -> str:
    """The text of a received mail with \n line ends (the wire carries CRLF)."""
    return mail.get_content().replace("\r\n", "\n")


def stored(app) -> list[ContactMessage]:
    with app.app_context():
        rows = list(db.session.scalars(select(ContactMessage).order_by(ContactMessage.id)))
        for row in rows:
            _ = row.topic
        db.session.expunge_all()
        return rows


def add_message(app, age_days: float = 0, **fields) -> int:
    """A message as if written `age_days` ago (for the inbox and purge tests)."""
    with app.app_context():
        topic_slug = fields.pop("topic", None)
        topic = db.session.scalar(select(Topic).where(Topic.slug == topic_slug)) \
            if topic_slug else None
        row = ContactMessage(**{"name": "Jana Schäfer", "email": "jana@example.org",
                                "message": "Hallo", **fields}, topic=topic,
                             created_at=utcnow() - timedelta(days=age_days))
        db.session.add(row)
        db.session.commit()
        return row.id


# --- a message reaches the team --------------------------------------------

def test_a_message_is_stored_and_mailed_to_the_team_with_reply_to_the_writer(smtp_app, smtp):
    response = write(smtp_app.test_client())
    assert response.status_code == 303
    thanks = smtp_app.test_client().get(response.headers["Location"])
    assert "Vielen Dank für Ihre Nachricht" in thanks.text

    [row] = stored(smtp_app)
    assert (row.name, row.email, row.topic.slug) == ("Jana Schäfer", "jana@example.org",
                                                     "bildung")
    assert row.message == FORM["message"]
    assert row.status == ContactStatus.NEW

    assert deliver(smtp_app) == 1
    [received] = smtp.received
    assert received.recipients == [TEAM]  # no copy to the address typed in the form
    mail = received.message
    assert mail["To"] == TEAM
    assert mail["Subject"] == "Kontaktformular: Idee zu Bildung"
    assert getaddresses([mail["Reply-To"]]) == [("Jana Schäfer", "jana@example.org")]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "text/plain"
    body = body_of(mail)
    assert "Wie wäre ein Makerspace in jeder Schule?\nViele Grüße" in body
    assert f"http://owlmail.test/admin/contact/{row.id}" in body


def test_without_a_topic_the_subject_names_the_writer(smtp_app, smtp):
    assert write(smtp_app.test_client(), topic="").status_code == 303
    deliver(smtp_app)
    [mail] = smtp.messages_to(TEAM)
    assert mail["Subject"] == "Kontaktformular: Nachricht von Jana Schäfer"
    assert stored(smtp_app)[0].topic is None


def test_the_recipient_comes_from_the_configuration(make_app, smtp):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
                   CONTACT_RECIPIENT="ideen@owl-morgen.de")
    write(app.test_client())
    deliver(app)
    assert [r.recipients for r in smtp.received] == [["ideen@owl-morgen.de"]]


def test_the_contact_form_never_subscribes_anyone(smtp_app, smtp):
    write(smtp_app.test_client())
    deliver(smtp_app)
    assert count(smtp_app, Subscriber) == 0
    assert smtp.messages_to("jana@example.org") == []


def test_a_topic_can_be_preselected_by_a_link_in_a_newsletter(app, client):
    page = client.get("/contact?topic=gesundheit")
    assert '<option selected value="gesundheit">' in page.text
    unknown = client.get("/contact?topic=%0D%0Aevil")
    assert unknown.status_code == 200 and "selected" not in unknown.text


def test_every_page_links_to_the_contact_form(app, client):
    for path in ("/", "/datenschutz", "/contact"):
        assert 'href="/contact"' in client.get(path).text


def test_the_form_shows_the_privacy_notice_and_the_consent_box(app, client):
    page = client.get("/contact").text
    assert 'name="consent"' in page and 'href="/datenschutz"' in page
    assert "180 Tagen gelöscht" in page


def test_an_idn_domain_is_delivered_in_ascii_and_umlauts_stay(smtp_app, smtp):
    write(smtp_app.test_client(), email="joerg@Bücher.DE", name="Jörg Müßig-Özdemir")
    [row] = stored(smtp_app)
    assert row.email == "joerg@bücher.de" and row.name == "Jörg Müßig-Özdemir"
    deliver(smtp_app)
    [mail] = smtp.messages_to(TEAM)
    assert getaddresses([mail["Reply-To"]]) == [("Jörg Müßig-Özdemir",
                                                 "joerg@xn--bcher-kva.de")]


# --- the SMTP server is away -----------------------------------------------

def test_a_message_written_during_an_smtp_outage_is_delivered_when_it_is_back(smtp_app, smtp):
    smtp.stop()
    assert write(smtp_app.test_client()).status_code == 303
    assert deliver(smtp_app) == 0
    assert count(smtp_app, ContactMessage) == 1
    with smtp_app.app_context():
        [queued] = db.session.scalars(select(OutboxMail))
        assert queued.attempts == 1 and queued.next_attempt_at > utcnow()
    smtp.start()
    assert deliver(smtp_app) == 0  # its retry time has not come yet
    with smtp_app.app_context():  # let the retry time pass
        db.session.execute(update(OutboxMail).values(next_attempt_at=utcnow()))
        db.session.commit()
    assert deliver(smtp_app) == 1
    [mail] = smtp.messages_to(TEAM)
    assert getaddresses([mail["Reply-To"]]) == [("Jana Schäfer", "jana@example.org")]


# --- hostile input ---------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("name", "Eve\r\nBcc: victim@example.org"),
    ("name", "Eve\nTo: victim@example.org"),
    ("email", "eve@example.org\r\nBcc: victim@example.org"),
    ("email", "eve@example.org\nCc: victim@example.org"),
    ("topic", "bildung\r\nBcc: victim@example.org"),
])
def test_crlf_in_a_one_line_field_is_refused_and_nothing_is_sent(smtp_app, smtp, field, value):
    response = write(smtp_app.test_client(), **{field: value})
    assert response.status_code == 400
    assert "Bitte prüfen Sie" in response.text
    assert count(smtp_app, ContactMessage) == 0
    assert deliver(smtp_app) == 0


def test_crlf_and_header_lines_in_the_message_stay_in_the_body(smtp_app, smtp):
    text = "Hallo\r\nBcc: victim@example.org\r\n\r\nTo: other@example.org\rX-Evil: 1"
    assert write(smtp_app.test_client(), message=text).status_code == 303
    deliver(smtp_app)
    [received] = smtp.received
    assert received.recipients == [TEAM]
    mail = received.message
    assert mail["Bcc"] is None and mail["X-Evil"] is None and mail["Cc"] is None
    assert mail.get_all("To") == [TEAM]
    assert "Bcc: victim@example.org\n\nTo: other@example.org\nX-Evil: 1" in body_of(mail)


def test_crlf_in_the_consent_or_honeypot_value_adds_no_header(smtp_app, smtp):
    assert write(smtp_app.test_client(), consent="y\r\nBcc: victim@example.org") \
        .status_code == 303
    deliver(smtp_app)
    [received] = smtp.received
    assert received.recipients == [TEAM] and received.message["Bcc"] is None
    assert b"victim" not in received.data


def test_a_display_name_full_of_address_syntax_is_one_quoted_name(smtp_app, smtp):
    name = 'Eve "Boss" <boss@example.org>, victim@example.org; =?utf-8?q?x?='
    assert write(smtp_app.test_client(), name=name).status_code == 303
    deliver(smtp_app)
    [received] = smtp.received
    assert received.recipients == [TEAM]
    [(shown, address)] = getaddresses([received.message["Reply-To"]])
    assert address == "jana@example.org"
    assert "boss@example.org" in shown


def test_html_and_script_are_kept_as_text_and_escaped_in_the_inbox(smtp_app, smtp, make_editor):
    script = "<script>alert('x')</script><b>fett</b>"
    write(smtp_app.test_client(), name="<img src=x onerror=alert(1)>", message=script)
    [row] = stored(smtp_app)
    assert row.message == script  # stored as the text that was written
    deliver(smtp_app)
    [mail] = smtp.messages_to(TEAM)
    assert mail.get_content_type() == "text/plain" and script in body_of(mail)

    editor = smtp_app.test_client()
    log_in(editor, make_editor())
    for path in ("/admin/contact/", f"/admin/contact/{row.id}"):
        page = editor.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_two_megabyte_message_gets_413_in_german_and_nothing_is_stored(app, client):
    response = write(client, message="x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert "zu groß" in response.text
    assert count(app, ContactMessage) == 0


def test_a_message_over_the_limit_is_refused_with_the_limit_named(make_app):
    app = make_app(CONTACT_MESSAGE_MAX_LENGTH=100)
    response = write(app.test_client(), message="ä" * 101)
    assert response.status_code == 400
    assert "höchstens 100 Zeichen" in response.text
    assert "ä" * 101 in response.text  # the text is kept for shortening, not lost
    assert write(app.test_client(), message="ä" * 100).status_code == 303


def test_a_name_over_200_characters_is_refused(app, client):
    response = write(client, name="N" * 201)
    assert response.status_code == 400
    assert "höchstens 200 Zeichen" in response.text
    assert count(app, ContactMessage) == 0


@pytest.mark.parametrize("field, says", [
    ("name", "Namen an"), ("email", "E-Mail-Adresse an"), ("message", "Ihre Nachricht"),
    ("consent", "verwenden dürfen"),
])
def test_a_missing_field_gets_a_german_message(app, client, field, says):
    response = write(client, **{field: None})
    assert response.status_code == 400
    assert says in response.text
    assert count(app, ContactMessage) == 0


def test_a_blank_message_counts_as_missing(app, client):
    assert write(client, message="   \r\n  ").status_code == 400
    assert count(app, ContactMessage) == 0


@pytest.mark.parametrize("email", ["not-an-address", "a@b", "Jörg@example.org"])
def test_an_invalid_address_is_refused_in_german(app, client, email):
    response = write(client, email=email)
    assert response.status_code == 400
    assert "E-Mail-Adresse" in response.text or "Umlauten" in response.text
    assert count(app, ContactMessage) == 0


def test_an_unknown_topic_is_refused(app, client):
    response = write(client, topic="gibt-es-nicht")
    assert response.status_code == 400
    assert "Thema aus der Liste" in response.text


def test_a_form_without_csrf_token_gets_400(app, client):
    response = client.post("/contact", data=FORM)
    assert response.status_code == 400
    assert "Formular" in response.text
    assert count(app, ContactMessage) == 0


def test_control_characters_are_removed_from_the_message(smtp_app, smtp):
    write(smtp_app.test_client(), message="Hallo Welt\x1b[31m\tTab")
    assert stored(smtp_app)[0].message == "Hallo Welt[31m\tTab"


def test_a_nul_byte_in_the_message_is_refused_with_a_german_page(smtp_app, smtp):
    response = write(smtp_app.test_client(), message="Hallo\x00 Welt")
    assert response.status_code == 400
    assert "Nullbyte" in response.text
    assert count(smtp_app, ContactMessage) == 0


# --- bots and limits -------------------------------------------------------

def test_a_bot_filling_the_honeypot_sees_thanks_but_nothing_is_stored_or_sent(smtp_app, smtp):
    response = write(smtp_app.test_client(), website="http://spam.example")
    assert response.status_code == 303 and response.headers["Location"] == "/contact/danke"
    assert count(smtp_app, ContactMessage) == 0
    assert deliver(smtp_app) == 0


def test_a_form_sent_back_too_fast_is_refused_and_can_be_sent_again(make_app):
    app = make_app(FORM_MIN_SECONDS=30)
    response = write(app.test_client())
    assert response.status_code == 400
    assert "sehr schnell" in response.text
    assert count(app, ContactMessage) == 0
    assert hidden_fields(response.data)["form_ts"]  # a fresh stamp to send again with


def test_a_form_without_its_time_stamp_is_treated_as_too_fast(app, client):
    response = write(client, form_ts="forged")
    assert response.status_code == 400 and count(app, ContactMessage) == 0


def test_a_visitor_writing_too_often_is_slowed_down(make_app):
    app = make_app(RATELIMIT_ENABLED=True, CONTACT_RATE_LIMIT="3/minute")
    client = app.test_client()
    answers = [write(client, message=f"Nachricht {i}").status_code for i in range(4)]
    assert answers == [303, 303, 303, 429]
    assert "Zu viele Anfragen" in write(client).text
    assert client.get("/contact").status_code == 200  # reading the form is not limited
    assert count(app, ContactMessage) == 3


# --- the editors' inbox ----------------------------------------------------

def test_an_anonymous_visitor_is_sent_to_the_login(app, client):
    message_id = add_message(app)
    for path in ("/admin/contact/", f"/admin/contact/{message_id}", "/admin/contact/export.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    response = client.post(f"/admin/contact/{message_id}/handled")
    assert response.status_code in (302, 400)
    assert stored(app)[0].status == ContactStatus.NEW


def test_the_inbox_lists_new_messages_first_and_filters_by_status_and_topic(app,
                                                                            editor_client):
    add_message(app, age_days=3, name="Alte Idee", topic="bildung")
    add_message(app, age_days=1, name="Erledigte Frage", topic="it",
                status=ContactStatus.HANDLED, handled_at=utcnow())
    add_message(app, age_days=0, name="Neue Anmerkung")
    page = editor_client.get("/admin/contact/").text
    assert page.index("Neue Anmerkung") < page.index("Alte Idee") < page.index("Erledigte Frage")
    assert "2 neu" in page

    new = editor_client.get("/admin/contact/?status=new").text
    assert "Neue Anmerkung" in new and "Alte Idee" in new and "Erledigte Frage" not in new
    handled = editor_client.get("/admin/contact/?status=handled").text
    assert "Erledigte Frage" in handled and "Neue Anmerkung" not in handled
    bildung = editor_client.get("/admin/contact/?topic=bildung").text
    assert "Alte Idee" in bildung and "Neue Anmerkung" not in bildung
    odd = editor_client.get("/admin/contact/?status=%0D%0A&topic=%3Cx%3E&page=-1")
    assert odd.status_code == 200


def test_the_inbox_pages_through_many_messages(app, editor_client):
    for i in range(53):
        add_message(app, age_days=i / 1000, name=f"Person {i:02d}")
    first = editor_client.get("/admin/contact/").text
    assert "Person 00" in first and "Person 52" not in first and "page=2" in first
    second = editor_client.get("/admin/contact/?page=2").text
    assert "Person 52" in second and "Person 00" not in second


def test_an_editor_reads_a_message_and_marks_it_handled(app, make_editor):
    editor_id = make_editor("lena@owl-morgen.de")
    client = app.test_client()
    log_in(client, editor_id)
    message_id = add_message(app, message="Zeile eins\nZeile zwei")
    detail = client.get(f"/admin/contact/{message_id}")
    assert detail.status_code == 200
    assert "Zeile eins\nZeile zwei" in detail.text
    token = hidden_fields(detail.data)["csrf_token"]

    assert client.post(f"/admin/contact/{message_id}/handled").status_code == 400  # no token
    before = utcnow()
    response = client.post(f"/admin/contact/{message_id}/handled", data={"csrf_token": token})
    assert response.status_code == 303
    [row] = stored(app)
    assert row.status == ContactStatus.HANDLED
    assert row.handled_by_id == editor_id and row.handled_at >= before - timedelta(seconds=1)
    assert "lena@owl-morgen.de" in client.get(f"/admin/contact/{message_id}").text

    client.post(f"/admin/contact/{message_id}/reopen", data={"csrf_token": token})
    [row] = stored(app)
    assert row.status == ContactStatus.NEW and row.handled_by_id is None


def test_admins_use_the_inbox_too_and_unknown_messages_are_404(app, admin_client):
    message_id = add_message(app)
    assert admin_client.get(f"/admin/contact/{message_id}").status_code == 200
    missing = admin_client.get("/admin/contact/999999")
    assert missing.status_code == 404 and "gibt es nicht" in missing.text


def test_the_reply_link_opens_the_mail_client_with_subject_and_quoted_message(app,
                                                                             editor_client):
    text = "Erste Zeile & mehr?\nZweite Zeile mit #Hash und 100%"
    message_id = add_message(app, name="Jörg Müßig", email="joerg@bücher.de", message=text,
                             topic="bildung")
    page = editor_client.get(f"/admin/contact/{message_id}").text
    start = page.index('href="mailto:') + len('href="')
    link = page[start:page.index('"', start)].replace("&amp;", "&")
    assert " " not in link and "\n" not in link
    parts = urlsplit(link)
    assert parts.scheme == "mailto" and unquote(parts.path) == "joerg@xn--bcher-kva.de"
    query = parse_qs(parts.query)
    assert query["subject"] == ["Re: Ihre Idee zu Bildung"]
    [body] = query["body"]
    assert body.startswith("Guten Tag Jörg Müßig,")
    assert "\r\n> Erste Zeile & mehr?\r\n> Zweite Zeile mit #Hash und 100%" in body


def test_the_csv_export_has_a_header_and_defuses_formulas(app, editor_client):
    add_message(app, name="=HYPERLINK(\"http://evil\")", email="a@example.org",
                message="+1 Idee\n-2", topic="it")
    add_message(app, name="@SUM(A1)", email="b@example.org", message="Ä normal",
                status=ContactStatus.HANDLED, handled_at=utcnow())
    response = editor_client.get("/admin/contact/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8"))))
    assert list(rows[0]) == ["id", "created_at", "name", "email", "topic", "status",
                             "handled_at", "handled_by", "message"]
    first, second = rows
    assert first["name"] == "'=HYPERLINK(\"http://evil\")"
    assert first["message"] == "'+1 Idee\n-2" and first["topic"] == "IT"
    assert second["name"] == "'@SUM(A1)" and second["message"] == "Ä normal"
    assert second["status"] == "handled" and second["handled_at"]

    only_new = editor_client.get("/admin/contact/export.csv?status=new").data.decode()
    assert "a@example.org" in only_new and "b@example.org" not in only_new


# --- expiry ----------------------------------------------------------------

def test_the_purge_job_deletes_only_messages_past_the_retention_period(make_app):
    app = make_app(CONTACT_RETENTION_DAYS=180)
    add_message(app, age_days=181, name="Zu alt")
    add_message(app, age_days=179, name="Noch da")
    add_message(app, age_days=0, name="Ganz neu")
    with app.app_context():
        assert purge_expired_messages() == 1
    assert [row.name for row in stored(app)] == ["Noch da", "Ganz neu"]
    with app.app_context():
        assert purge_expired_messages() == 0
