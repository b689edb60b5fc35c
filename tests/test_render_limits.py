"""A body that would take long to render (deep nesting, huge tables, thousands of links,
slow Markdown) is refused when it is saved or previewed, with a message — not stored and
rendered slowly later."""

import pytest

from owlmail.campaigns.rendering import check_render_cost
from owlmail.campaigns.services import CampaignError
from tests.test_api import DRAFT, api, assert_error, create  # noqa: F401  (fixture)
from tests.test_campaign_pages import post_form

NESTED = "**" * 300 + "tief" + "**" * 300
TABLE = "|a|b|c|d|\n|-|-|-|-|\n" + "|1|2|3|4|\n" * 600
LINKS = " ".join(f"[Link {n}](https://example.org/{n})" for n in range(1200))
HTML_TAGS = "<b>" * 1200 + "fett"

TOO_COMPLEX = [
    (NESTED, "zu tief verschachtelt (301 Ebenen"),
    (TABLE, "2404 Zellen, höchstens 2000"),
    (LINKS, "1200 Links, höchstens 1000"),
    (HTML_TAGS, "1200 HTML-Tags, höchstens 1000"),
]


@pytest.mark.parametrize(("body", "says"), TOO_COMPLEX)
def test_the_api_refuses_a_body_too_complex_to_render(api, body, says):  # noqa: F811
    response = api.post("/campaigns", json={**DRAFT, "body": body})
    assert_error(response, 422, "too_complex", says)


def test_the_api_refuses_such_a_body_in_a_change_too(api):  # noqa: F811
    campaign_id = create(api)["id"]
    response = api.patch(f"/campaigns/{campaign_id}", json={"body": NESTED})
    assert_error(response, 422, "too_complex", "zu tief verschachtelt")


@pytest.mark.parametrize(("body", "says"), TOO_COMPLEX[:2])
def test_the_editor_form_shows_why_a_body_is_refused(editor_client, body, says):
    response = post_form(editor_client, "/admin/campaigns/new", "/admin/campaigns/new",
                         {"subject": "Zu viel", "body": body, "template": "standard"})
    assert response.status_code == 422
    assert says in response.text


def test_the_preview_refuses_a_body_too_complex_to_render(editor_client):
    response = post_form(editor_client, "/admin/campaigns/new", "/admin/campaigns/preview",
                         {"subject": "Zu viel", "body": LINKS, "template": "standard"})
    assert response.status_code == 422
    assert "1200 Links" in response.json["error"]["message"]


def test_a_body_slower_than_the_bound_is_refused_with_its_time(make_app):
    strict = make_app(CAMPAIGN_RENDER_MAX_SECONDS=0.0)
    with strict.test_request_context(), pytest.raises(CampaignError) as refused:
        check_render_cost("## Hallo\n\nEin ganz gewöhnlicher Text.")
    assert refused.value.status == 422 and refused.value.code == "too_complex"
    assert "dauert zu lange" in refused.value.message and "höchstens 0.00 s" in str(refused.value)


@pytest.mark.slow
def test_markdown_that_renders_for_seconds_is_refused_at_the_default_bound(api):  # noqa: F811
    unmatched_brackets = "[" * 50_000 + "]" * 40_000
    response = api.post("/campaigns", json={**DRAFT, "body": unmatched_brackets})
    assert_error(response, 422, "too_complex", "dauert zu lange")


def test_an_ordinary_long_newsletter_is_accepted(api):  # noqa: F811
    section = ("## Abschnitt\n\nEin Absatz mit einem [Link](https://example.org) und **fett "
               "gesetzten** Worten, wie ihn ein Newsletter hat.\n\n- eins\n- zwei\n\n")
    response = api.post("/campaigns", json={**DRAFT, "body": section * 150})
    assert response.status_code == 201, response.text


def test_an_english_speaking_editor_reads_why_in_english(editor_client):
    editor_client.set_cookie("lang", "en")
    response = post_form(editor_client, "/admin/campaigns/new", "/admin/campaigns/new",
                         {"subject": "Too much", "body": NESTED, "template": "standard"})
    assert response.status_code == 422
    assert "The text is nested too deeply (301 levels" in response.text
