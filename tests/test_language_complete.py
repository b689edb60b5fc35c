"""Every page, mail and API error is complete in the reader's language: rendered in
English, no word of the UI's German vocabulary appears; rendered in German, no word of
its English vocabulary. The vocabularies come from the catalogue itself (words of the
German messages that no translation uses, and the other way round), plus the labels that
are built in Python; so a label that bypasses the catalogue fails here.

Pages are found from the URL map: every GET route is fetched, with sample values for
its arguments. A new route whose argument has no sample fails until one is added below.
"""

import json
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from owlmail.auth.models import Editor
from owlmail.auth.services import create_editor, reset_token
from owlmail.campaigns.models import Campaign, CampaignStatus
from owlmail.contact.models import ContactMessage
from owlmail.extensions import db
from owlmail.subscriptions.consent import Evidence
from owlmail.subscriptions.fields.models import SubscriberField
from owlmail.subscriptions.models import Subscriber, SubscriberStatus, Topic
from owlmail.subscriptions.services import record
from owlmail.timeutil import utcnow
from owlmail.tokens import Purpose, sign
from tests.conftest import FormClient, log_in

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "owlmail" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{5,}")

# Words that may stand on a page of either language: names, data shown as written,
# and words both languages share or the other language borrows.
SHARED = {
    "bielefeld", "ostwestfalenlippe", "lippe", "westphalia", "turnerstraße", "amtsgericht",
    "digitalgipfel",
    "morgen", "newsletter", "owlmail", "markdown", "double", "opt", "online", "digital",
    "feedback", "server", "login", "token", "tokens", "export", "import", "status",
    "standard", "english", "deutsch", "datenschutz", "impressum", "kontakt", "unicode",
    "email",  # a CSV column name (INTERFACE.md), in both languages' help texts
}
# Pages where the other language is the point: the language switch and legal notes.
# The OpenAPI document is written in English for developers; the dev outbox shows mails.
SKIP_ENDPOINTS = {"static", "api-docs.openapi_json", "mailing.outbox", "outbox.outbox"}


def vocabularies() -> tuple[set[str], set[str]]:
    """(German words only German messages use, English words only translations use)."""
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    german, english = set(), set()
    for message in catalogue:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        german |= {w.lower() for text in ids for w in WORD.findall(_plain(text))}
        english |= {w.lower() for text in strings for w in WORD.findall(_plain(text))}
    return german - english - SHARED, english - german - SHARED


def _plain(text: str) -> str:
    """Message text without placeholders, markup and URLs."""
    text = re.sub(r"%\(\w+\)[sd]|\{\w*\}", " ", text)
    text = re.sub(r"<[^>]+>|https?://\S+|\S+@\S+", " ", text)
    return text


GERMAN, ENGLISH = vocabularies()


def visible_words(html: str, language: str) -> set[str]:
    """The words a reader sees: text, and the attributes read aloud or shown (a button's
    value, not a checkbox's); personal-field placeholders like {{ name }} are no words.
    A part marked as another language (lang="…", as WCAG 3.1.2 asks) is that language's."""
    html = re.sub(r"(?s)<(script|style|textarea|code|kbd)\b.*?</\1>", " ", html)  # no prose
    html = re.sub(rf'(?s)<(\w+)\b[^>]*\blang="(?!{language})[a-z]+"[^>]*>.*?</\1>', " ", html)
    attributes = re.findall(r'(?:title|alt|aria-label|placeholder)="([^"]*)"', html)
    attributes += re.findall(r'<input[^>]*type="submit"[^>]*value="([^"]*)"', html)
    text = re.sub(r"<[^>]+>", " ", html) + " " + " ".join(attributes)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text)
    text = re.sub(r"https?://\S+|\S+@\S+|[\w.-]+\.(?:de|org|com|test)\b", " ", text)
    return {w.lower() for w in WORD.findall(text)}


@pytest.fixture
def site(make_app, make_editor):
    """A site with a person in every status, a sent public campaign, a contact message,
    and an admin logged in; the data is in neither language's vocabulary."""
    app = make_app()
    with app.app_context():
        topic = db.session.scalar(select(Topic).where(Topic.slug == "it"))
        people = {}
        for status in SubscriberStatus:
            person = Subscriber(email=f"{status.value}@example.org",
                                email_key=f"{status.value}@example.org", name="Kim Lee",
                                status=status, topics=[topic], confirm_nonce="n" * 32)
            db.session.add(person)
            db.session.flush()
            for action in ("requested", "confirmed", "imported", "preferences", "unsubscribed",
                           "purged", "bounced"):
                record(person, action, Evidence.none("https://example.org/form"))
            people[status] = person.id
        campaign = Campaign(subject="Summit 2026", body="OWL 2026: {{ name }}.",
                            status=CampaignStatus.SENT, public=True, slug="summit-2026",
                            started_at=utcnow(), finished_at=utcnow(), send_at=utcnow(),
                            topics=[topic])
        message = ContactMessage(name="Kim Lee", email="kim@example.org", message="OWL 2026!")
        db.session.add_all([campaign, message])
        kim = create_editor("kim@owl-morgen.de", "ein-sehr-gutes-passwort")
        db.session.flush()
        kim_id = kim.id
        db.session.commit()
        pending = db.session.get(Subscriber, people[SubscriberStatus.PENDING])
        confirmed = db.session.get(Subscriber, people[SubscriberStatus.CONFIRMED])
        samples = {
            "subscriber_id": confirmed.id, "campaign_id": campaign.id,
            "message_id": message.id, "slug": "summit-2026",
            ("subscriptions.confirm", "token"): sign(Purpose.CONFIRM,
                                                     [pending.id, pending.confirm_nonce]),
            ("subscriptions.unsubscribe", "token"): sign(Purpose.UNSUBSCRIBE,
                                                         [confirmed.id, confirmed.token_key]),
            ("subscriptions.preferences", "token"): sign(Purpose.PREFERENCES,
                                                         [confirmed.id, confirmed.token_key]),
            ("auth.reset_password", "token"): reset_token(db.session.get(Editor, kim_id)),
            # Link tokens no campaign sent: the page that says the link is unknown.
            ("tracking.click", "token"): "1.1.AAAAAAAAAAAAAAAA",
            ("tracking.opened", "token"): "1.1.AAAAAAAAAAAAAAAA",
            "field_id": db.session.scalars(select(SubscriberField.id)).first(),
        }
        data_words = {w.lower() for topic in db.session.scalars(select(Topic))
                      for w in WORD.findall(f"{topic.name} {topic.description}")}
    client = app.test_client()
    log_in(client, make_editor(role="admin"))
    return app, client, samples, data_words


def pages(app, samples) -> list[tuple[str, str]]:
    """(endpoint, path) of every GET route, its arguments filled from the samples."""
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in SKIP_ENDPOINTS:
            continue
        values = {}
        for name in rule.arguments:
            value = samples.get((rule.endpoint, name), samples.get(name))
            assert value is not None, f"no sample value for <{name}> of {rule.rule}: add one"
            values[name] = value
        with app.test_request_context():
            found.append((rule.endpoint, rule.build(values)[1]))
    return found


def check_pages(site, language: str, foreign: set[str]) -> list[str]:
    """Each page in `language`, with the foreign words it shows (editors' topic names
    are data, shown as written)."""
    app, client, samples, data_words = site
    foreign = foreign - data_words
    client.get(f"/?lang={language}")
    problems = []
    for endpoint, path in pages(app, samples):
        response = client.get(path)
        if response.status_code in (301, 302, 303, 307, 308):
            continue  # werkzeug's own redirect page; where it leads is checked itself
        if response.mimetype not in ("text/html", "application/json", "text/plain"):
            response.close()  # a streamed download ends here, as a server ends it
            continue
        body = response.get_data(as_text=True)
        if response.mimetype == "application/json":
            body = " ".join(_json_strings(json.loads(body))) if body.strip() else ""
        words = visible_words(body, language) & foreign
        if words:
            problems.append(f"{path} ({endpoint}): {sorted(words)}")
    return problems


def _json_strings(data) -> list[str]:
    if isinstance(data, dict):
        return [s for key, value in data.items() if key in ("message", "error", "errors")
                or isinstance(value, dict | list) for s in _json_strings(value)]
    if isinstance(data, list):
        return [s for item in data for s in _json_strings(item)]
    return [data] if isinstance(data, str) else []


def test_the_vocabularies_are_large_enough_to_mean_something():
    assert len(GERMAN) > 300 and len(ENGLISH) > 300
    assert {"abonnenten", "kampagnen", "unbestätigt"} <= GERMAN
    assert {"campaigns", "unconfirmed", "unsubscribed"} <= ENGLISH


def test_every_page_in_english_has_no_german_word(site):
    problems = check_pages(site, "en", GERMAN)
    assert not problems, "German words on English pages:\n" + "\n".join(problems)


def test_every_page_in_german_has_no_english_word(site):
    problems = check_pages(site, "de", ENGLISH)
    assert not problems, "English words on German pages:\n" + "\n".join(problems)


# --- the language stays with the person ----------------------------------------------

def test_an_editor_s_choice_of_language_follows_them_to_another_browser(app, make_editor):
    editor_id = make_editor()
    first = app.test_client()
    log_in(first, editor_id)
    assert '<html lang="en">' in first.get("/admin/?lang=en").text
    elsewhere = app.test_client()  # no cookie: another browser, the same account
    log_in(elsewhere, editor_id)
    assert '<html lang="en">' in elsewhere.get("/admin/").text
    assert '<html lang="de">' in elsewhere.get("/admin/?lang=de").text
    assert '<html lang="de">' in first.get("/admin/campaigns").text


def test_visitors_keep_choosing_by_cookie(app):
    client = app.test_client()
    client.get("/?lang=en")
    assert '<html lang="en">' in client.get("/contact").text


def test_who_signs_up_in_english_is_kept_as_english(app, browser_form):
    from tests.test_i18n import english_client

    browser = FormClient(english_client(app))
    browser.submit("/", {"email": "ann@example.org", "consent": "y"}, action="/subscribe")
    FormClient(app.test_client()).submit("/", {"email": "kai@example.org", "consent": "y"},
                                         action="/subscribe")
    with app.app_context():
        languages = dict(db.session.execute(select(Subscriber.email, Subscriber.language)).all())
    assert languages == {"ann@example.org": "en", "kai@example.org": "de"}


def test_the_answer_to_a_contact_message_starts_in_the_writer_s_language(app, editor_client):
    from tests.test_i18n import english_client

    FormClient(english_client(app)).submit("/contact", {
        "name": "Ann", "email": "ann@example.org", "message": "An idea", "consent": "y"})
    with app.app_context():
        row = db.session.scalar(select(ContactMessage))
        assert row.language == "en"
        row_id = row.id
    page = editor_client.get(f"/admin/contact/{row_id}").text  # the editor reads German
    assert "Re%3A%20Your%20message%20to%20OWL%20morgen" in page
    assert "Hello%20Ann%2C" in page and 'lang="en">Re: Your message' in page


def test_the_team_reads_a_contact_mail_in_german_whoever_wrote_it(smtp_app, smtp):
    from tests.support.db import deliver
    from tests.test_i18n import english_client

    FormClient(english_client(smtp_app)).submit("/contact", {
        "name": "Ann", "email": "ann@example.org", "message": "An idea", "consent": "y"})
    deliver(smtp_app)
    [mail] = smtp.messages_to("info@owl-morgen.de")
    assert mail["Subject"] == "Kontaktformular: Nachricht von Ann"


def test_a_campaign_reaches_each_reader_in_the_frame_of_their_language(make_app, smtp):
    """The editors' text as written; why-you-get-this, unsubscribe and imprint in the
    language the reader signed up in."""
    from owlmail.delivery.engine import run_due_campaigns
    from tests.support.campaigns import add_campaign, add_subscribers

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    with app.app_context():
        add_subscribers(1, topics=["bildung"], prefix="de")
        [english] = add_subscribers(1, topics=["bildung"], prefix="en")
        db.session.execute(db.update(Subscriber).where(Subscriber.id == english)
                           .values(language="en"))
        db.session.commit()
        add_campaign(topics=["bildung"], body="Neues aus der Region.")
        assert run_due_campaigns() == 2
    [german_mail] = smtp.messages_to("de0@example.org")
    [english_mail] = smtp.messages_to("en0@example.org")
    for mail in (german_mail, english_mail):
        assert "Neues aus der Region." in mail.get_body(("plain",)).get_content()
    german = " ".join(german_mail.get_body(("plain",)).get_content().split())
    english = " ".join(english_mail.get_body(("plain",)).get_content().split())
    assert "Newsletter abbestellen:" in german and "zum Thema Bildung" in german
    assert "Unsubscribe from the newsletter:" in english and "on Education" in english
    assert "abbestellen" not in english and "Unsubscribe" not in german


def test_mails_and_api_errors_in_english_have_no_german_word(smtp_app, smtp):
    """The confirmation mail of an English sign-up, the password-reset mail asked for in
    English, and the API's JSON errors with ?lang=en."""
    from tests.support.db import deliver
    from tests.test_i18n import english_client

    with smtp_app.app_context():
        create_editor("kim@owl-morgen.de", "ein-sehr-gutes-passwort")
        db.session.commit()
    client = english_client(smtp_app)
    FormClient(client).submit("/", {"email": "ann@example.org", "consent": "y"},
                              action="/subscribe")
    FormClient(client).submit("/admin/reset", {"email": "kim@owl-morgen.de"})
    deliver(smtp_app)
    problems = []
    for received in smtp.received:
        mail = received.message
        for part in ("plain", "html"):
            body = mail.get_body((part,))
            words = visible_words(body.get_content(), "en") & GERMAN if body else set()
            if words or GERMAN & visible_words(str(mail["Subject"]), "en"):
                problems.append(f"{mail['Subject']} ({part}): {sorted(words)}")
    assert len(smtp.received) == 2 and not problems, problems
    for path in ("/api/v1/campaigns?lang=en", "/api/v1/subscribers/1?lang=en"):
        answer = client.get(path, headers={"Authorization": "Bearer falsch"})
        assert answer.status_code == 401
        assert not visible_words(answer.json["error"]["message"], "en") & GERMAN
