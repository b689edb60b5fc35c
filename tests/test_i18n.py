"""English as the second language of the public side: chosen, remembered, complete."""

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, check_and_call_extract_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from owlmail.extensions import db
from owlmail.outbox.services import drain_outbox
from owlmail.subscriptions.models import ConsentEvent, ConsentText
from tests.conftest import FormClient
from tests.support.pages import hidden_fields, links_in

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "owlmail" / "translations" / "en" / "LC_MESSAGES"

# What a visitor, subscriber or contact-form writer can see (the editors' pages may stay German).
PUBLIC_SOURCES = [
    "templates/base.html",
    "templates/_macros.html",
    "templates/subscriptions",
    "templates/public",
    "templates/contact/form.html",
    "templates/contact/thanks.html",
    "templates/contact/_consent_text.html",
    "templates/errors",
    "templates/email/_layout.html",
    "templates/email/confirm.html",
    "templates/email/confirm.txt",
    "templates/email/already_subscribed.html",
    "templates/email/already_subscribed.txt",
    "templates/campaigns/archive.html",
    "templates/campaigns/archived.html",
    "owlmail/subscriptions",
    "owlmail/addresses.py",
    "owlmail/contact/forms.py",
    "owlmail/contact/services.py",
    "owlmail/contact/views.py",
    "owlmail/formguard.py",
    "owlmail/forms.py",
    "owlmail/public/errors.py",
    "templates/embed",
    "owlmail/embed",
    "owlmail/subscriptions/fields/forms.py",
]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}  # as make translations-extract
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def english_client(app):
    """A visitor who clicked "English" once (?lang=en sets the cookie)."""
    client = app.test_client()
    client.get("/?lang=en")
    return client


def read_catalogue():
    with open(CATALOGUE / "messages.po", "rb") as f:
        return read_po(f)


# --- choosing the language ------------------------------------------------------------

def test_the_landing_page_in_english(client):
    page = client.get("/?lang=en").text
    assert '<html lang="en">' in page
    assert "The digital future of East Westphalia-Lippe – straight to your inbox" in page
    assert ">Email address<" in page
    assert ">Name (optional)<" in page
    assert "Which topics interest you?" in page
    assert "Yes, I would like to receive the “OWL morgen” newsletter" in page
    assert '<a href="/datenschutz">privacy notice</a>' in page
    assert '>Subscribe to the newsletter</button>' in page
    assert 'lang="de">Deutsch</a>' in page
    assert "<span>Education</span>" in page  # the default topics are translated too
    assert "<span>Digital infrastructure</span>" in page
    for german in ("Jetzt anmelden", "E-Mail-Adresse", "Einwilligung", "abonnieren", "Bildung"):
        assert german not in page


def test_the_choice_is_remembered_by_a_cookie_and_can_be_undone(client):
    first = client.get("/?lang=en")
    assert "lang=en" in first.headers["Set-Cookie"]
    assert "Max-Age=31536000" in first.headers["Set-Cookie"]

    assert '<html lang="en">' in client.get("/contact").text
    assert "Send message" in client.get("/contact").text

    back = client.get("/?lang=de")
    assert '<html lang="de">' in back.text
    assert '<html lang="de">' in client.get("/contact").text


def test_the_language_link_keeps_the_page_and_its_query(client, browser_form):
    page = client.get("/contact?topic=bildung").text
    assert '<a href="/contact?topic=bildung&amp;lang=en" lang="en">English</a>' in page
    assert '<a href="/impressum?lang=de" lang="de">Deutsch</a>' in \
        client.get("/impressum?lang=en").text
    # After a POST there is no GET at that address: the link leads to the home page.
    answer = browser_form.submit("/", {"email": "ann@example.org", "consent": "y"},
                                 action="/subscribe")
    assert '<a href="/?lang=de" lang="de">Deutsch</a>' in answer.text


def test_german_is_the_default_even_for_an_english_browser(client):
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert '<html lang="de">' in page
    assert "Jetzt anmelden" in page
    assert 'lang="en">English</a>' in page


def test_an_unknown_language_falls_back_to_german(client):
    page = client.get("/?lang=fr").text
    assert '<html lang="de">' in page
    assert "lang=" not in client.get("/?lang=fr").headers.get("Set-Cookie", "")


# --- forms and pages in English -------------------------------------------------------

def test_a_sign_up_in_english_gets_english_validation_errors(app):
    browser = FormClient(english_client(app))
    response = browser.submit("/", {"email": "kein-at-zeichen", "name": "Ann"},
                              action="/subscribe")
    assert response.status_code == 400
    assert "Please check the highlighted fields." in response.text
    assert "Please enter a valid email address." in response.text
    assert "Please give your consent so that we may write to you." in response.text
    assert "Bitte" not in response.text


def test_the_contact_form_in_english_names_its_limit_and_errors(app):
    client = english_client(app)
    page = client.get("/contact").text
    assert "At most 5000 characters." in page
    assert "I agree that OstWestfalenLippe GmbH stores and uses my details" in page
    response = FormClient(client).submit("/contact", {
        "name": "Ann", "email": "ann@example.org", "message": "x" * 5001, "consent": "y"})
    assert response.status_code == 400
    assert "Your message is too long (5001 characters)." in response.text
    assert "at most 5000 characters" in response.text


def test_the_public_archive_in_english(client):
    page = client.get("/archive?lang=en").text
    assert "<h1>Archive</h1>" in page
    assert "There are no issues in the archive yet." in page
    assert "Subscribe to the feed" in page


def test_error_pages_in_english(app):
    client = english_client(app)
    response = client.get("/gibt-es-nicht")
    assert response.status_code == 404
    assert "This page does not exist." in response.text
    assert "Error code 404" in response.text


@pytest.mark.parametrize("path", ["/impressum", "/datenschutz"])
def test_english_legal_pages_say_the_german_version_is_binding(client, path):
    english = client.get(f"{path}?lang=en").text
    assert "the <a href=\"?lang=de\" lang=\"de\">German version</a> is the legally binding one" \
        in english
    german = client.get(f"{path}?lang=de").text
    assert "verbindlich" not in german


def test_the_imprint_names_the_representative_in_the_reader_s_language(make_app):
    """Without a configured name the imprint says "the management" in each language;
    a configured name is shown as written."""
    app = make_app()
    assert "Vertreten durch die Geschäftsführung" in app.test_client().get("/impressum").text
    english = english_client(app).get("/impressum").text
    assert "Represented by the management" in english and "Geschäftsführung" not in english
    named = make_app(OPERATOR_REPRESENTATIVE="Erika Musterfrau (Geschäftsführerin)")
    assert "Represented by Erika Musterfrau (Geschäftsführerin)" in \
        english_client(named).get("/impressum").text


def test_the_english_privacy_page_keeps_the_configured_figures(make_app):
    app = make_app(PENDING_PURGE_DAYS=21, CONTACT_RETENTION_DAYS=90)
    page = english_client(app).get("/datenschutz").text
    assert "We delete unconfirmed sign-ups after 21 days." in page
    assert "We keep them for 90 days" in page


def test_the_editors_pages_follow_the_choice_too(admin_client):
    """The editors' side is translated as well (German stays the default there)."""
    assert "Campaigns" in admin_client.get("/admin/campaigns?lang=en").text
    for path in ("/admin/", "/admin/subscribers", "/admin/topics", "/admin/contact/",
                 "/admin/account", "/admin/editors"):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert '<html lang="en">' in response.text, path
    assert "Log out" in admin_client.get("/admin/account").text
    assert "Abmelden" in admin_client.get("/admin/account?lang=de").text


# --- mails go out in the language the person used ---------------------------------------

def test_who_signs_up_in_english_gets_the_confirmation_mail_in_english(smtp_app, smtp):
    client = english_client(smtp_app)
    response = FormClient(client).submit("/", {
        "email": "ann@example.org", "name": "Ann Smith", "consent": "y"}, action="/subscribe")
    assert "Almost done – please check your inbox" in response.text
    with smtp_app.app_context():
        drain_outbox()

    [mail] = smtp.messages_to("ann@example.org")
    assert mail["Subject"] == "Please confirm your subscription to the OWL morgen newsletter"
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith("Hello Ann Smith,")
    assert "please confirm your subscription to the “OWL morgen” newsletter" in text
    html = mail.get_body(("html",)).get_content()
    assert '<html lang="en">' in html
    assert "Confirm subscription</a>" in html

    link = links_in(mail, "/confirm/")[0].removeprefix("http://owlmail.test")
    page = client.get(link)
    assert "Yes, confirm my subscription" in page.text
    confirmed = client.post(link, data=hidden_fields(page.data))
    assert "Welcome to OWL morgen!" in confirmed.text
    assert "<li>Start-ups</li>" in confirmed.text  # no choice means every topic
    with smtp_app.app_context():
        requested = db.session.scalar(select(ConsentEvent).where(
            ConsentEvent.action == "requested"))
        assert requested.mail_template_version.endswith("-en")  # proof names the language


def test_a_topic_named_by_the_editors_is_shown_as_written(app):
    from owlmail.subscriptions.models import Topic

    with app.app_context():
        db.session.add(Topic(slug="kultur", name="Kultur & Tourismus", position=99))
        db.session.commit()
    page = english_client(app).get("/contact").text
    assert "Kultur &amp; Tourismus" in page
    assert ">Health<" in page


def test_who_signs_up_in_german_still_gets_german_mail(smtp_app, smtp):
    client = english_client(smtp_app)
    client.get("/?lang=de")
    FormClient(client).submit("/", {"email": "anna@example.org", "consent": "y"},
                              action="/subscribe")
    with smtp_app.app_context():
        drain_outbox()
    [mail] = smtp.messages_to("anna@example.org")
    assert mail["Subject"] == "Bitte bestätigen Sie Ihre Anmeldung zum OWL-morgen-Newsletter"
    assert mail.get_body(("plain",)).get_content().startswith("Guten Tag,")


def test_the_english_consent_is_stored_as_its_own_wording(app):
    FormClient(english_client(app)).submit(
        "/", {"email": "ann@example.org", "consent": "y"}, action="/subscribe")
    FormClient(app.test_client()).submit(
        "/", {"email": "anna@example.org", "consent": "y"}, action="/subscribe")
    with app.app_context():
        versions = db.session.scalars(select(ConsentEvent.consent_text_version)).all()
        texts = {t.version: t.text for t in db.session.scalars(select(ConsentText))}
    assert len(set(versions)) == 2
    english, german = (texts[v] for v in versions)
    assert english.startswith("Yes, I would like to receive the “OWL morgen” newsletter")
    assert german.startswith("Ja, ich möchte den Newsletter „OWL morgen“")


# --- the catalogue ---------------------------------------------------------------------

def public_msgids() -> dict[str, str]:
    """Every message the public sources use, extracted with the project's babel.cfg."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, str] = {}
    for source in PUBLIC_SOURCES:
        path = ROOT / source
        files = sorted(path.rglob("*.*")) if path.is_dir() else [path]
        for file in files:
            if file.suffix not in {".py", ".html", ".txt"}:
                continue
            results = check_and_call_extract_file(
                str(file), method_map, options_map, None, KEYWORDS, (), False, str(ROOT))
            for filename, lineno, message, _comments, _context in results:
                msgid = message[0] if isinstance(message, tuple) else message
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_babel_cfg_finds_the_public_messages():
    found = public_msgids()
    assert len(found) > 120
    assert "Jetzt anmelden" in found  # a template
    assert "Bitte geben Sie eine gültige E-Mail-Adresse an." in found  # Python, gettext
    assert "Webseite (bitte leer lassen)" in found  # Python, lazy_gettext as _l
    assert "Diese Seite gibt es nicht." in found  # the error messages
    assert "Guten Tag %(name)s," in found  # a plain-text mail


def test_every_public_message_has_an_english_translation():
    catalogue = read_catalogue()
    problems = []
    for msgid, where in public_msgids().items():
        message = catalogue.get(msgid)
        if message is None or not message.string:
            problems.append(f"untranslated ({where}): {msgid}")
        elif message.fuzzy:
            problems.append(f"fuzzy ({where}): {msgid}")
        elif set(PLACEHOLDER.findall(msgid)) != set(PLACEHOLDER.findall(message.string)):
            problems.append(f"placeholders differ ({where}): {msgid}")
    assert not problems, "\n".join(problems)


def test_the_catalogue_has_no_fuzzy_entries():
    catalogue = read_catalogue()
    assert not catalogue.fuzzy  # a fuzzy header makes pybabel compile skip the whole file
    assert [m.id for m in catalogue if m.id and m.fuzzy] == []


def test_every_translation_keeps_the_placeholders_of_its_message():
    """Babel's python-format check: a placeholder missing from the call would be a 500."""
    problems = [f"{message.id!r}: {error}" for message, errors in read_catalogue().check()
                for error in errors]
    assert not problems, "\n".join(problems)


def test_the_committed_mo_file_is_compiled_from_the_po_file():
    """Compared message by message: the header names the Babel version that compiled it,
    so the bytes differ between Babel releases even when every translation is the same."""
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue())
    compiled.seek(0)
    with (CATALOGUE / "messages.mo").open("rb") as committed:
        assert _messages(committed) == _messages(compiled), (
            "messages.mo is stale: run make translations-compile and commit it")


def _messages(mo_file) -> dict:
    """The translations of a compiled catalogue, without its header entry."""
    catalogue = gettext.GNUTranslations(mo_file)
    return {key: value for key, value in catalogue._catalog.items() if key != ""}
