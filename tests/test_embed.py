"""The sign-up form on owl-morgen.de's own pages: the snippet, and POST /embed/subscribe
taking sign-ups only from the embedding sites (the browser-driven story is in
test_embed_browser.py)."""

import json
import re

import pytest
from sqlalchemy import select

from owlmail.extensions import db
from owlmail.outbox.models import OutboxMail
from owlmail.subscriptions.fields.services import values_of
from owlmail.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from tests.support.db import count

HOST = "https://www.owl-morgen.de"
PAGE = HOST + "/digitalgipfel/anmeldung"
SIGN_UP = {"email": "ina@example.org", "topics": ["it"], "consent": "y"}


@pytest.fixture
def app(make_app):
    return make_app(EMBED_ORIGINS=[HOST, "https://owl2025.de/"])


def post(client, data=None, **headers):
    return client.post("/embed/subscribe", data={**SIGN_UP, **(data or {})}, headers=headers)


def events(app, action: str) -> list[ConsentEvent]:
    with app.app_context():
        rows = db.session.scalars(select(ConsentEvent).where(ConsentEvent.action == action))
        found = list(rows)
        db.session.expunge_all()
        return found


def test_the_snippet_is_a_plain_form_posting_to_this_site(client):
    snippet = client.get(f"/embed/form?source={PAGE}").text
    assert '<form class="owlmail-embed" method="post" ' \
           'action="http://owlmail.test/embed/subscribe"' in snippet
    assert '<link rel="stylesheet" href="http://owlmail.test/static/embed.css">' in snippet
    assert f'<input type="hidden" name="source" value="{PAGE}">' in snippet
    assert "csrf_token" not in snippet and "<script" not in snippet
    assert 'name="organisation"' in snippet and 'name="kreis"' in snippet
    assert 'href="http://owlmail.test/datenschutz"' in snippet  # absolute on the host page


def test_the_snippet_in_english_posts_in_english_and_offers_what_the_editor_chose(client):
    snippet = client.get("/embed/form?lang=en&topics=it&fields=kreis").text
    assert 'action="http://owlmail.test/embed/subscribe?lang=en" lang="en"' in snippet
    assert "Subscribe to the newsletter" in snippet
    assert 'value="it"' in snippet and 'value="bildung"' not in snippet
    assert 'name="kreis"' in snippet and 'name="organisation"' not in snippet


def test_the_stylesheet_only_styles_inside_the_embedded_form(client):
    css = re.sub(r"/\*.*?\*/", "", client.get("/static/embed.css").text, flags=re.S)
    rules = [rule.split("{")[0] for rule in css.split("}") if "{" in rule]
    selectors = [s.strip() for rule in rules for s in rule.split(",")]
    assert selectors and all(s.startswith(".owlmail-embed") for s in selectors), selectors


def test_a_sign_up_from_an_embedding_page_is_pending_with_the_page_as_its_source(app, client):
    response = post(client, {"source": PAGE, "organisation": "hochschule"},
                    Origin=HOST, Referer=HOST + "/")
    assert response.status_code == 303
    assert response.location.startswith("/embed/next?back=")
    with app.app_context():
        person = db.session.scalar(select(Subscriber))
        assert person.status == SubscriberStatus.PENDING
        assert values_of(person.id) == {"organisation": "hochschule"}
    assert [e.source_url for e in events(app, "requested")] == [PAGE]
    assert json.loads(events(app, "fields")[0].detail) == {"fields": {
        "organisation": "hochschule"}}
    assert count(app, OutboxMail) == 1  # the double opt-in mail


def test_the_next_step_page_explains_and_leads_back_to_the_host_page(client):
    location = post(client, {"source": PAGE}, Origin=HOST).location
    page = client.get(location).text
    assert "bitte prüfen Sie Ihr Postfach" in page
    assert f'href="{PAGE}"' in page


def test_the_next_step_page_links_back_only_to_embedding_sites(client):
    page = client.get("/embed/next?back=https://evil.example/phish").text
    assert 'href="https://evil.example/phish"' not in page
    assert "Zurück zur Seite" not in page


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "https://www.owl-morgen.de.evil.example"},
    {"Referer": "https://evil.example/page"},
    {},
])
def test_a_post_from_anywhere_else_is_refused_with_403(app, client, headers):
    response = post(client, **headers)
    assert response.status_code == 403
    assert "freigegebenen Seiten" in response.text
    assert count(app, Subscriber) == 0


def test_without_origin_the_referer_decides_and_is_the_source(app, client):
    assert post(client, Referer=PAGE + "?utm=x").status_code == 303
    assert [e.source_url for e in events(app, "requested")] == [PAGE + "?utm=x"]


def test_a_stated_source_on_another_site_is_not_believed(app, client):
    post(client, {"source": "https://evil.example/x"}, Origin="https://owl2025.de")
    assert [e.source_url for e in events(app, "requested")] == ["https://owl2025.de"]


def test_no_embedding_sites_configured_means_every_post_is_refused(make_app):
    client = make_app().test_client()
    assert post(client, Origin=HOST).status_code == 403


def test_a_filled_honeypot_looks_like_success_and_stores_nothing(app, client):
    response = post(client, {"website": "http://spam.example"}, Origin=HOST)
    assert response.status_code == 303
    assert count(app, Subscriber) == 0


def test_invalid_input_shows_the_form_on_this_site_with_the_problem_marked(app, client):
    response = post(client, {"email": "kein-at-zeichen", "consent": ""}, Origin=HOST)
    assert response.status_code == 400
    assert 'id="email-error"' in response.text and 'id="consent-error"' in response.text
    assert 'value="kein-at-zeichen"' in response.text
    assert 'name="csrf_token"' in response.text  # the form here posts to /subscribe
    assert count(app, Subscriber) == 0


def test_one_address_is_limited_however_many_pages_post_it(make_app):
    app = make_app(EMBED_ORIGINS=[HOST], RATELIMIT_ENABLED=True,
                   SUBSCRIBE_ADDRESS_RATE_LIMIT="2/hour")
    client = app.test_client()
    statuses = [post(client, Origin=HOST).status_code for _ in range(3)]
    assert statuses == [303, 303, 429]


# --- the editors' embed page ----------------------------------------------------------

def test_editors_get_the_snippet_with_a_preview_and_their_choices(editor_client):
    page = editor_client.get("/admin/embed?chosen=1&snippet_lang=en&topics=it&fields=kreis"
                             f"&source={PAGE}").text
    assert 'id="embed-code" rows="14" readonly>&lt;!-- OWL morgen' in page
    assert "action=&#34;http://owlmail.test/embed/subscribe?lang=en&#34;" in page
    assert '<div class="embed-preview" id="embed-preview"' in page
    assert 'name="organisation"' not in page.split('id="embed-preview"')[1]
    assert "Code kopieren" in page  # the admin page itself stays German
    assert "nicht auf einer freigegebenen Website" not in page


def test_the_embed_page_warns_about_a_page_that_is_not_allowed(editor_client):
    page = editor_client.get("/admin/embed?source=https://example.net/seite").text
    assert "nicht auf einer freigegebenen Website" in page


def test_the_live_preview_gets_the_snippet_alone(editor_client, client):
    snippet = editor_client.get("/admin/embed/snippet?snippet_lang=en").text
    assert snippet.startswith("<!-- OWL morgen") and "Subscribe to the newsletter" in snippet
    assert client.get("/admin/embed/snippet").status_code in (302, 303)
