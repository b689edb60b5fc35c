"""Campaign rendering: only the personal fields pass, editors' HTML is made safe, and each
recipient gets a text and an HTML part with their own links."""

import time

import pytest
from sqlalchemy import select

from owlmail.campaigns.rendering import (
    Draft,
    PersonalFields,
    compile_campaign,
    render_archive,
    validate_body,
)
from owlmail.campaigns.services import CampaignError
from owlmail.extensions import db
from owlmail.subscriptions.models import Topic

ERIKA = PersonalFields("Erika Mustermann", "erika@example.org",
                       "http://owlmail.test/unsubscribe/ERIKA", "http://owlmail.test/preferences/ERIKA")
NAMELESS = PersonalFields("", "anon@example.org",
                          "http://owlmail.test/unsubscribe/ANON", "http://owlmail.test/preferences/ANON")


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def flat(text: str) -> str:
    """Text with its line wrapping undone."""
    return " ".join(text.split())


def render(body: str, fields: PersonalFields = ERIKA, **draft) -> tuple[str, str]:
    return compile_campaign(Draft("Betreff", body=body, **draft)).render(fields)


@pytest.mark.parametrize("body, named", [
    ("{{ config }}", "{{ config }}"),
    ("{{ ''.__class__.__mro__ }}", "{{ ''.__class__.__mro__ }}"),
    ("{{ name.upper() }}", "{{ name.upper() }}"),
    ("{{ name|upper }}", "{{ name|upper }}"),
    ("{% for x in range(3) %}x{% endfor %}", "{% for x in range(3) %}"),
    ("{% set secret = 1 %}", "{% set secret = 1 %}"),
    ("{% include 'base.html' %}", "{% include 'base.html' %}"),
    ("{% if name == 'x' %}x{% endif %}", "{% if name == 'x' %}"),
    ("Hallo\n\n{{ self }}", "{{ self }}"),
    ("{{ request }}", "{{ request }}"),
])
def test_anything_but_the_personal_fields_is_refused_naming_the_expression(body, named):
    with pytest.raises(CampaignError) as refused:
        validate_body(body)
    assert named in refused.value.message
    assert refused.value.status == 422


def test_the_line_of_a_refused_expression_is_named():
    with pytest.raises(CampaignError) as refused:
        validate_body("Hallo\n\nalles gut\n{{ config.SECRET_KEY }}")
    assert "Zeile 4" in refused.value.message


@pytest.mark.parametrize("body, hint", [
    ("{% if name %}Hallo", "{% endif %}"),
    ("Hallo\n{{ name", "Zeile 2"),
    ("{% endif %}", "{% if %}"),
])
def test_template_syntax_errors_say_where(body, hint):
    with pytest.raises(CampaignError) as refused:
        validate_body(body)
    assert hint in refused.value.message
    assert "Zeile" in refused.value.message


def test_the_allowed_fields_pass():
    validate_body("Hallo {{ name }} ({{ email }})\n{% if name %}A{% elif email %}B{% else %}C"
                  "{% endif %} {{ unsubscribe_url }} {{ preferences_url }} {# Notiz #} "
                  "{{- name -}}")


def test_a_refused_body_is_never_evaluated(ctx):
    with pytest.raises(CampaignError):
        render("{{ config.SECRET_KEY }}")


def test_scripts_event_handlers_styles_and_javascript_links_are_stripped(ctx):
    body = ("Text <script>alert(1)</script> und <img src=x onerror=alert(2)>\n\n"
            "[klick](javascript:alert(3)) <a href=\"javascript:alert(4)\">b</a> "
            "<a href=\"https://owl-morgen.de\" style=\"color:red\" onclick=\"x()\">ok</a>"
            "<iframe src=\"https://evil.example\"></iframe>")
    _, html = render(body)
    lowered = html.lower()
    for bad in ("<script", "alert(1)", "onerror", 'href="javascript:', "onclick", "color:red",
                "<iframe"):
        assert bad not in lowered
    assert 'href="https://owl-morgen.de"' in html


def test_markdown_becomes_html_with_css_inlined(ctx):
    _, html = render("## Ergebnisse\n\nDer **Gipfel** war [voll](https://owl-morgen.de).")
    assert "<h2 style=" in html
    assert "<strong>Gipfel</strong>" in html
    assert '<a href="https://owl-morgen.de" style="' in html
    assert "<style>" not in html.split("</head>")[1]


def test_the_text_part_comes_from_the_same_source(ctx):
    text, _ = render("# Titel\n\nDer **Gipfel** war [voll](https://owl-morgen.de).\n\n"
                     "- Innovation\n- Bildung\n\n1. eins\n2. zwei\n\n"
                     "| Thema | Projekte |\n|---|---|\n| Bildung | 4 |\n| IT | 7 |")
    assert "Titel\n=====" in text
    assert "Der Gipfel war voll (https://owl-morgen.de)." in text
    assert "- Innovation\n- Bildung" in text
    assert "1. eins\n2. zwei" in text
    assert "Thema | Projekte\nBildung | 4\nIT | 7" in text
    assert "<" not in text.replace("<b>", "")


def test_both_name_variants(ctx):
    body = "{% if name %}Guten Tag {{ name }},{% else %}Guten Tag,{% endif %}\n\nText"
    compiled = compile_campaign(Draft("Betreff", body=body))
    named_text, named_html = compiled.render(ERIKA)
    anon_text, anon_html = compiled.render(NAMELESS)
    assert "Guten Tag Erika Mustermann," in named_text
    assert "Guten Tag Erika Mustermann," in named_html
    assert "Guten Tag," in anon_text and "Mustermann" not in anon_text
    assert "Guten Tag,</p>" in anon_html


def test_personal_values_are_escaped_in_html_and_quoted_in_links(ctx):
    sly = PersonalFields("<b>Bob</b> & {x}", "bob@example.org", ERIKA.unsubscribe_url,
                         ERIKA.preferences_url)
    text, html = render("Hallo {{ name }} [Profil](https://owl-morgen.de/?n={{ name }}) "
                        "[x]({{ name }})", sly)
    assert "Hallo &lt;b&gt;Bob&lt;/b&gt; &amp; {x}" in html
    assert "<b>Bob</b>" not in html
    assert "?n=%3Cb%3EBob%3C%2Fb%3E%20%26%20%7Bx%7D" in html
    assert "Hallo <b>Bob</b> & {x}" in text


def test_a_name_cannot_become_a_javascript_link(ctx):
    evil = PersonalFields("javascript:alert(1)", "e@example.org", ERIKA.unsubscribe_url,
                          ERIKA.preferences_url)
    _, html = render("[Klick]({{ name }})", evil)
    assert 'href="javascript:' not in html
    assert 'href="javascript%3Aalert%281%29"' in html


def test_braces_in_the_body_are_kept(ctx):
    text, html = render("Preis {netto} und {{ email }} {")
    assert "Preis {netto} und erika@example.org {" in text
    assert "Preis {netto} und erika@example.org {" in html


def test_footer_links_and_reason_per_recipient(ctx):
    topics = db.session.scalars(select(Topic).where(Topic.slug.in_(["bildung", "it"]))).all()
    compiled = compile_campaign(Draft("Betreff", body="Text", topics=topics))
    for fields in (ERIKA, NAMELESS):
        text, html = compiled.render(fields)
        for part in (text, html):
            assert fields.unsubscribe_url in part
            assert fields.preferences_url in part
            assert "OstWestfalenLippe GmbH" in part
            assert "zu den Themen Bildung oder IT abonniert haben" in flat(part)
    assert ERIKA.unsubscribe_url not in compiled.render(NAMELESS)[1]


def test_everyone_campaign_gives_the_general_reason(ctx):
    text, _ = render("Text")
    assert "weil Sie den Newsletter von OWL morgen abonniert haben" in flat(text)


def test_archive_has_no_personal_links(ctx):
    draft = Draft("Betreff", body="{% if name %}Hallo {{ name }}{% else %}Hallo{% endif %} "
                                   "[abmelden]({{ unsubscribe_url }})")
    text, html = render_archive(draft)
    assert "/unsubscribe/" not in html and "/preferences/" not in html
    assert 'href="http://owlmail.test/"' in html
    assert "Newsletter abonnieren" in text


def test_digitalgipfel_template_has_its_own_header(ctx):
    _, html = render("Text", template="digitalgipfel")
    assert "Digitalgipfel OWL – Ergebnisse" in html


def test_preheader_is_hidden_at_the_top(ctx):
    compiled = compile_campaign(Draft("Betreff", preheader="Die Ergebnisse in Kürze",
                                      body="Text"))
    _, html = compiled.render(ERIKA)
    assert compiled.preheader == "Die Ergebnisse in Kürze"
    assert html.index("Die Ergebnisse in Kürze") < html.index("Text")


def test_too_long_bodies_are_refused(make_app):
    app = make_app(CAMPAIGN_BODY_MAX_LENGTH=100)
    with app.app_context(), pytest.raises(CampaignError) as refused:
        validate_body("x" * 101)
    assert refused.value.status == 413
    assert "100" in refused.value.message


def test_rendering_per_recipient_is_cheap(ctx):
    body = "\n\n".join(f"## Abschnitt {i}\n\nHallo {{{{ name }}}}, " + "Text " * 60
                       for i in range(30))
    compiled = compile_campaign(Draft("Betreff", body=body))
    _, html = compiled.render(ERIKA)
    assert len(html) > 12_000
    start = time.perf_counter()
    for _ in range(1000):
        compiled.render(ERIKA)
    per_mail = (time.perf_counter() - start) / 1000
    assert per_mail < 0.001  # measured ~0.007 ms; generous for a loaded machine


def test_a_link_field_written_as_text_becomes_a_link(ctx):
    _, html = render("Abmelden: {{ unsubscribe_url }}\n\n[Einstellungen]({{ preferences_url }})")
    assert (f'<a href="{ERIKA.unsubscribe_url}" style="color: #005a78;text-decoration: '
            f'underline;">{ERIKA.unsubscribe_url}</a>') in html
    assert html.count(f'href="{ERIKA.preferences_url}"') == 2  # body link and footer, no nesting
    assert f">{ERIKA.preferences_url}</a>" not in html.split('class="footer"')[0]
