"""Campaign results that respect consent: every reader's clicks are counted per link, only
readers who agreed to tracking get their own link tokens and an open pixel; forged tokens
lead nowhere, HEAD requests and link scanners count as filtered, and erasure or a
withdrawn consent leaves no trace of the person."""

import re

import pytest
from sqlalchemy import select, update

from owlmail.campaigns.models import CampaignLink
from owlmail.delivery.engine import run_due_campaigns
from owlmail.extensions import db
from owlmail.subscriptions.models import ConsentEvent, Subscriber
from owlmail.tracking.counter import flush
from owlmail.tracking.models import LinkCount, ReaderActivity
from tests.support.campaigns import add_campaign, add_subscribers
from tests.support.db import count

BASE = "http://owlmail.test"
BODY = ("Hallo {{ name }},\n\n[Ergebnisse](https://owl-morgen.de/ergebnisse) und "
        "[Termine](https://owl-morgen.de/termine?jahr=2026&monat=5).\n\n"
        "Fragen? [Schreiben Sie uns](mailto:info@owl-morgen.de).\n")
LINKS = ["https://owl-morgen.de/ergebnisse", "https://owl-morgen.de/termine?jahr=2026&monat=5"]
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0"


@pytest.fixture
def tracked(make_app, smtp):
    """Four readers get a campaign with two links; the last two agreed to tracking."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, CLICK_FLUSH_SECONDS=0)
    with app.app_context():
        ids = add_subscribers(4)
        db.session.execute(update(Subscriber).where(Subscriber.id.in_(ids[2:]))
                           .values(tracking=True))
        db.session.commit()
        campaign_id = add_campaign(subject="Digitalgipfel", body=BODY)
        run_due_campaigns()
    return app, campaign_id, ids, mails_by_reader(smtp)


def mails_by_reader(smtp) -> dict[str, tuple[str, str]]:
    """recipient -> (text, html) of the last campaign mail they got."""
    found = {}
    for received in smtp.received:
        message = received.message
        found[received.recipients[0]] = (message.get_body(("plain",)).get_content(),
                                         message.get_body(("html",)).get_content())
    return found


def click_links(part: str) -> list[str]:
    return re.findall(re.escape(BASE) + r"/r/[A-Za-z0-9._-]+", part)


def pixels(html: str) -> list[str]:
    return re.findall(r'<img[^>]+src="([^"]+)"', html)


def path(url: str) -> str:
    return url.removeprefix(BASE)


def click(app, url: str, method: str = "GET", agent: str = BROWSER, address="198.51.100.7"):
    client = app.test_client()
    return client.open(path(url), method=method, headers={"User-Agent": agent},
                       environ_base={"REMOTE_ADDR": address})


def totals(app, campaign_id: int) -> tuple[int, int]:
    """(clicks on links, filtered fetches of links and pixel) written, after a flush."""
    flush(app)
    with app.app_context():
        rows = db.session.execute(select(LinkCount.link, LinkCount.clicks,
                                         LinkCount.filtered).where(
            LinkCount.campaign_id == campaign_id)).all()
    return sum(r.clicks for r in rows if r.link), sum(r.filtered for r in rows)


def test_readers_without_consent_get_the_same_anonymous_links_and_no_image(tracked):
    _app, campaign_id, _ids, mails = tracked
    first, second = mails["leser0@example.org"], mails["leser1@example.org"]
    assert click_links(first[1]) == click_links(second[1])
    assert click_links(first[0]) == click_links(second[0])  # the text part too
    html_links = click_links(first[1])
    assert len(set(html_links)) == 2 and set(click_links(first[0])) == set(html_links)
    for token in html_links:  # campaign and link, nothing else
        assert re.fullmatch(rf"{campaign_id}\.[12]\.[A-Za-z0-9_-]{{16}}", token.split("/r/")[1])
    assert not pixels(first[1])
    assert "owl-morgen.de/ergebnisse" not in first[1]  # nothing that bypasses the count
    assert "mailto:info@owl-morgen.de" in first[1]
    assert "/unsubscribe/" in first[1] and "/preferences/" in first[1]  # not rewritten


def test_readers_with_consent_get_their_own_links_and_an_open_pixel(tracked):
    _app, _campaign_id, ids, mails = tracked
    anonymous = set(click_links(mails["leser0@example.org"][1]))
    third, fourth = mails["leser2@example.org"], mails["leser3@example.org"]
    assert set(click_links(third[1])).isdisjoint(click_links(fourth[1]))
    assert set(click_links(third[1])).isdisjoint(anonymous)
    assert all(f".{ids[2]}." in link for link in click_links(third[1]))
    assert set(click_links(third[0])) == set(click_links(third[1]))
    [pixel] = pixels(third[1])
    assert pixel.startswith(f"{BASE}/o/") and pixel.endswith(".gif")


def test_a_click_redirects_to_the_link_and_is_counted(tracked):
    app, campaign_id, _ids, mails = tracked
    link = click_links(mails["leser0@example.org"][1])[1]
    response = click(app, link)
    assert response.status_code == 302
    assert response.headers["Location"] == LINKS[1]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert totals(app, campaign_id) == (1, 0)
    with app.app_context():
        assert db.session.scalars(select(CampaignLink.url).order_by(CampaignLink.number)
                                  ).all() == LINKS
    assert count(app, ReaderActivity) == 0  # an anonymous click names nobody


def test_a_consenting_reader_s_clicks_and_open_are_their_own(tracked):
    app, campaign_id, ids, mails = tracked
    _text, html = mails["leser2@example.org"]
    click(app, click_links(html)[0])
    click(app, click_links(html)[0])
    assert click(app, pixels(html)[0]).headers["Content-Type"] == "image/gif"
    assert totals(app, campaign_id) == (2, 0)
    with app.app_context():
        rows = db.session.execute(select(ReaderActivity.subscriber_id, ReaderActivity.link,
                                         ReaderActivity.count)).all()
    assert sorted(rows) == [(ids[2], 0, 1), (ids[2], 1, 2)]


@pytest.mark.parametrize("bad", [
    "1.1.AAAAAAAAAAAAAAAA", "x", "1.1", "1.1.zzzzzzzzzzzzzzzz.", "A" * 5000, "%00",
    "1.1.%00AAAAAAAAAAAAAAA", "%C3%A4%C3%B6%C3%BC", "1.1.ÄÖÜAAAAAAAAAAAAA", "..", "1.-1.x",
])
def test_forged_or_broken_tokens_lead_nowhere(tracked, bad):
    app, campaign_id, _ids, _mails = tracked
    response = app.test_client().get(f"/r/{bad}")
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert totals(app, campaign_id) == (0, 0)


def test_an_edited_token_leads_nowhere(tracked):
    app, campaign_id, ids, mails = tracked
    token = click_links(mails["leser0@example.org"][1])[0].split("/r/")[1]
    number, link, mac = token.split(".")
    for edited in (f"{number}.2.{mac}", f"{int(number) + 1}.{link}.{mac}",
                   f"{number}.{link}.{ids[0]}.{mac}", f"{number}.{link}.{mac[::-1]}"):
        assert app.test_client().get(f"/r/{edited}").status_code == 404
    own = click_links(mails["leser2@example.org"][1])[0].split("/r/")[1]
    c, n, _reader, mac = own.split(".")
    assert app.test_client().get(f"/r/{c}.{n}.{ids[3]}.{mac}").status_code == 404
    assert app.test_client().get(f"/o/{c}.{ids[3]}.{mac}.gif").status_code == 404
    assert totals(app, campaign_id) == (0, 0)


def test_head_requests_and_link_scanners_are_answered_but_not_counted(tracked):
    app, campaign_id, _ids, mails = tracked
    anonymous = click_links(mails["leser0@example.org"][1])[0]
    _own_text, own_html = mails["leser3@example.org"]
    head = click(app, anonymous, method="HEAD")
    assert head.status_code == 302 and head.headers["Location"] == LINKS[0]
    assert click(app, anonymous, agent="Mozilla/5.0 (compatible; BarracudaCentral)"
                 ).status_code == 302
    assert click(app, anonymous, agent="").status_code == 302
    assert click(app, click_links(own_html)[0], address="40.107.22.5").status_code == 302
    assert click(app, pixels(own_html)[0], address="17.58.1.2").status_code == 200
    assert totals(app, campaign_id) == (0, 5)
    assert count(app, ReaderActivity) == 0


def test_a_click_right_after_delivery_counts(tracked):
    """No grace period: a person who clicks at once is still a person."""
    app, campaign_id, _ids, mails = tracked
    click(app, click_links(mails["leser1@example.org"][1])[0])
    assert totals(app, campaign_id) == (1, 0)


def test_counts_reach_the_database_in_the_background(tracked):
    app, _campaign_id, _ids, mails = tracked
    from owlmail.tracking.counter import counter
    from tests.support.pages import wait_for

    app.config["CLICK_FLUSH_SECONDS"] = 0.05
    app.extensions.pop("owlmail.click_counter", None)
    click(app, click_links(mails["leser1@example.org"][1])[0])

    def written() -> bool:
        with app.app_context():
            return db.session.scalar(select(LinkCount.clicks)) == 1

    wait_for(written, timeout=5, what="the click count written by the background thread")
    assert not counter(app).links
    counter(app).stop()


def test_withdrawing_tracking_consent_makes_the_next_mail_anonymous(tracked, smtp):
    app, _campaign_id, ids, mails = tracked
    _text, html = mails["leser2@example.org"]
    preferences = re.search(r'href="(http://owlmail.test/preferences/[^"]+)"', html)[1]
    client = app.test_client()
    page = client.get(path(preferences))
    assert "checked" in re.search(r'<input[^>]*name="tracking"[^>]*>', page.text)[0]
    from tests.support.pages import hidden_fields

    answer = client.post(path(preferences), data={**hidden_fields(page.data), "name": ""})
    assert answer.status_code == 303
    with app.app_context():
        person = db.session.get(Subscriber, ids[2])
        assert person.tracking is False
        assert [e.action for e in person.consent_events][-1] == "tracking_withdrawn"
        second = add_campaign(subject="Zweite Ausgabe", body=BODY)
        run_due_campaigns()
    later = mails_by_reader(smtp)
    assert not pixels(later["leser2@example.org"][1])
    assert click_links(later["leser2@example.org"][1]) == click_links(
        later["leser0@example.org"][1])
    assert all(link.split("/r/")[1].startswith(f"{second}.")
               for link in click_links(later["leser2@example.org"][1]))
    # A click on a personal link of the older mail now counts for nobody in particular.
    click(app, click_links(html)[0])
    flush(app)
    assert count(app, ReaderActivity) == 0


def test_erasure_removes_the_person_s_clicks_and_opens_but_not_the_counts(tracked):
    from owlmail.erasure import erase_person

    app, campaign_id, ids, mails = tracked
    html = mails["leser3@example.org"][1]
    click(app, click_links(html)[1])
    click(app, pixels(html)[0])
    flush(app)
    assert count(app, ReaderActivity) == 2
    with app.app_context():
        erase_person(db.session.get(Subscriber, ids[3]))
        db.session.commit()
    assert count(app, ReaderActivity) == 0
    assert totals(app, campaign_id) == (1, 0)


def test_a_click_buffered_before_an_erasure_names_nobody_afterwards(tracked):
    from owlmail.erasure import erase_person

    app, campaign_id, ids, mails = tracked
    click(app, click_links(mails["leser3@example.org"][1])[0])  # buffered, not written
    with app.app_context():
        erase_person(db.session.get(Subscriber, ids[3]))
        db.session.commit()
    assert totals(app, campaign_id) == (1, 0)
    assert count(app, ReaderActivity) == 0


def test_the_public_archive_copy_has_the_original_links(tracked):
    from owlmail.campaigns.models import ArchiveCopy

    app, campaign_id, _ids, _mails = tracked
    with app.app_context():
        copy = db.session.get(ArchiveCopy, campaign_id)
        assert LINKS[0] in copy.html and "/r/" not in copy.html and "/o/" not in copy.html
        assert "/r/" not in copy.text


def test_a_test_copy_carries_the_original_links(tracked, smtp):
    from owlmail.campaigns.models import Campaign
    from owlmail.delivery.testsend import send_test
    from tests.support.db import deliver

    app, campaign_id, _ids, _mails = tracked
    with app.test_request_context(method="POST"):
        send_test(db.session.get(Campaign, campaign_id), ["redaktion@owl-morgen.de"])
        db.session.commit()
    deliver(app)
    [mail] = smtp.messages_to("redaktion@owl-morgen.de")
    html = mail.get_body(("html",)).get_content()
    assert "https://owl-morgen.de/ergebnisse" in html and "/r/" not in html
    assert not pixels(html)


# --- the consent ------------------------------------------------------------------------

def test_the_sign_up_form_offers_tracking_unticked_and_logs_it_apart(app, browser_form):
    page = app.test_client().get("/").text
    box = re.search(r'<input[^>]*name="tracking"[^>]*>', page)[0]
    assert "checked" not in box and "required" not in box
    browser_form.submit("/", {"email": "ja@example.org", "consent": "y", "tracking": "y"},
                        action="/subscribe")
    browser_form.submit("/", {"email": "nein@example.org", "consent": "y"},
                        action="/subscribe")
    with app.app_context():
        yes = db.session.scalar(select(Subscriber).where(Subscriber.email == "ja@example.org"))
        no = db.session.scalar(select(Subscriber).where(Subscriber.email == "nein@example.org"))
        assert yes.tracking is True and no.tracking is False
        events = [(e.action, e.consent_text_version) for e in yes.consent_events]
        assert [a for a, _v in events] == ["requested", "tracking_given"]
        assert events[0][1] and events[1][1] and events[0][1] != events[1][1]
        assert [e.action for e in no.consent_events] == ["requested"]
        from owlmail.subscriptions.models import ConsentText

        wording = db.session.get(ConsentText, events[1][1]).text
        assert "Links" in wording and "widerrufen" in wording


def test_tracking_consent_can_be_given_later_on_the_preferences_page(app):
    from owlmail.subscriptions.services import preferences_url
    from tests.support.pages import hidden_fields

    with app.app_context():
        [person_id] = add_subscribers(1)
    with app.test_request_context():
        url = path(preferences_url(db.session.get(Subscriber, person_id)))
    client = app.test_client()
    page = client.get(url)
    client.post(url, data={**hidden_fields(page.data), "tracking": "y"})
    with app.app_context():
        person = db.session.get(Subscriber, person_id)
        assert person.tracking is True
        [event] = db.session.scalars(select(ConsentEvent).where(
            ConsentEvent.action == "tracking_given")).all()
        assert event.consent_text_version


def test_the_subscriber_page_shows_the_tracking_consent(tracked, make_editor):
    from tests.conftest import log_in

    app, _campaign_id, ids, _mails = tracked
    client = app.test_client()
    log_in(client, make_editor())
    assert 'data-tracking="yes"' in client.get(f"/admin/subscribers/{ids[2]}").text
    assert 'data-tracking="no"' in client.get(f"/admin/subscribers/{ids[0]}").text


# --- the report ---------------------------------------------------------------------------

def test_the_report_counts_clicks_per_link_and_opens_only_with_consent(tracked, make_editor):
    from tests.conftest import log_in
    from tests.test_reports import report

    app, campaign_id, _ids, mails = tracked
    anonymous = click_links(mails["leser0@example.org"][1])
    click(app, anonymous[1])
    click(app, anonymous[1])
    click(app, click_links(mails["leser1@example.org"][0])[1])  # from the text part
    own = mails["leser2@example.org"][1]
    click(app, click_links(own)[0])
    click(app, pixels(own)[0])
    click(app, pixels(mails["leser3@example.org"][1])[0])
    click(app, anonymous[0], method="HEAD")
    click(app, anonymous[0], agent="Mozilla/5.0 Mimecast URL Protect")
    flush(app)

    data = report(app, campaign_id)
    assert data["sent"] == 4 and data["clicks"] == 4
    assert data["links"] == [{"url": LINKS[1], "clicks": 3}, {"url": LINKS[0], "clicks": 1}]
    assert (data["opens"], data["unique_clickers"]) == (2, 1)
    assert (data["tracking_readers"], data["tracking_share"]) == (2, 0.5)
    assert data["filtered"] == 2
    assert data["unsubscribed"] == 0 and data["bounces"] == {"hard": 0, "soft": 0}

    client = app.test_client()
    log_in(client, make_editor())
    page = client.get(f"/admin/campaigns/{campaign_id}/report").text
    assert 'data-stat="clicks">4<' in page and 'data-stat="opens">2<' in page
    assert 'data-stat="tracking-share">50 %<' in page and 'data-filtered="2"' in page
    assert page.index(LINKS[1].replace("&", "&amp;")) < page.index(LINKS[0])
    assert "nur Leserinnen und Leser mit Einwilligung" in page
    assert "Klicks in den ersten 14 Tagen" in page
    english = client.get(f"/admin/campaigns/{campaign_id}/report?lang=en").text
    assert "only readers who agreed" in english


def test_a_campaign_without_clicks_reports_zeros(tracked):
    from tests.test_reports import report

    app, campaign_id, _ids, _mails = tracked
    data = report(app, campaign_id)
    assert (data["clicks"], data["opens"], data["filtered"]) == (0, 0, 0)
    assert [line["clicks"] for line in data["links"]] == [0, 0]


def test_the_embedded_form_offers_tracking_unticked_and_logs_it(make_app):
    from tests.test_embed import HOST, post

    app = make_app(EMBED_ORIGINS=[HOST])
    client = app.test_client()
    snippet = client.get("/embed/form").text
    box = re.search(r'<input[^>]*name="tracking"[^>]*>', snippet)[0]
    assert "checked" not in box and "required" not in box
    assert post(client, {"email": "ina@example.org", "tracking": "y"}, Origin=HOST
                ).status_code == 303
    assert post(client, {"email": "ole@example.org"}, Origin=HOST).status_code == 303
    with app.app_context():
        flags = dict(db.session.execute(select(Subscriber.email, Subscriber.tracking)).all())
        assert flags == {"ina@example.org": True, "ole@example.org": False}
        assert db.session.scalar(select(ConsentEvent.action).where(
            ConsentEvent.action == "tracking_given")) == "tracking_given"


def test_signing_up_again_unticked_takes_a_pending_tracking_consent_back(app, browser_form):
    for tracking in ({"tracking": "y"}, {}):
        browser_form.submit("/", {"email": "kim@example.org", "consent": "y", **tracking},
                            action="/subscribe")
    with app.app_context():
        person = db.session.scalar(select(Subscriber))
        assert person.tracking is False
        assert [e.action for e in person.consent_events] == [
            "requested", "tracking_given", "requested", "tracking_withdrawn"]


def test_link_tokens_signed_with_an_older_key_still_work(make_app):
    from owlmail.tokens import NumberSigner, Purpose, TokenError

    old = make_app(SECRET_KEY="old-key")
    with old.app_context():
        token = NumberSigner(Purpose.CLICK).dumps(3, 1)
    rotated = make_app(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"])
    with rotated.app_context():
        assert NumberSigner(Purpose.CLICK).loads(token) == (3, 1)
        assert NumberSigner(Purpose.CLICK).dumps(3, 1) != token
        with pytest.raises(TokenError):
            NumberSigner(Purpose.OPEN).loads(token)  # a click token is no open token
    fresh = make_app(SECRET_KEY="new-key")
    with fresh.app_context(), pytest.raises(TokenError):
        NumberSigner(Purpose.CLICK).loads(token)


def test_the_privacy_notice_explains_the_counting(client):
    page = client.get("/datenschutz").text
    assert "Klicks in Newslettern" in page and "TDDDG" in page


def test_an_open_of_a_campaign_that_does_not_exist_spoils_no_batch(tracked):
    from owlmail.tokens import NumberSigner, Purpose

    app, campaign_id, ids, mails = tracked
    with app.app_context():
        ghost = NumberSigner(Purpose.OPEN).dumps(campaign_id + 100, ids[2])
    assert app.test_client().get(f"/o/{ghost}.gif").status_code == 200
    click(app, click_links(mails["leser0@example.org"][1])[0])
    assert totals(app, campaign_id) == (1, 0)
    assert count(app, LinkCount) == 1


def test_the_unsubscribe_page_s_topic_form_leaves_the_tracking_consent_alone(tracked):
    from tests.support.pages import hidden_fields

    app, _campaign_id, ids, mails = tracked
    html = mails["leser2@example.org"][1]
    unsubscribe = re.search(r'href="(http://owlmail.test/unsubscribe/[^"]+)"', html)[1]
    client = app.test_client()
    page = client.get(path(unsubscribe))
    action = re.search(r'<form method="post" action="([^"]*/preferences/[^"]+)"', page.text)[1]
    assert client.post(action, data={**hidden_fields(page.data), "topics": ["it"]}
                       ).status_code == 303
    with app.app_context():
        assert db.session.get(Subscriber, ids[2]).tracking is True


def test_the_api_names_a_subscriber_s_tracking_consent(tracked):
    from tests.test_api import Api, make_token

    app, _campaign_id, ids, _mails = tracked
    api = Api(app.test_client(), make_token(app))
    assert api.get(f"/subscribers/{ids[2]}").json["tracking"] is True
    assert api.get(f"/subscribers/{ids[0]}").json["tracking"] is False
