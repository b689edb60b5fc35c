"""SpamAssassin (Debian's, its shipped rules, no network) scores what owlmail sends —
the confirmation mail, a test mail and a campaign mail of each template — at 1.0 or less,
so a template change that looks like spam fails here, not in readers' junk folders."""

import re
import subprocess

import pytest
from sqlalchemy import select

from owlmail.campaigns.models import Campaign
from owlmail.campaigns.rendering import TEMPLATES
from owlmail.delivery.engine import run_due_campaigns
from owlmail.extensions import db
from tests.conftest import FormClient
from tests.support.campaigns import add_campaign, add_subscribers
from tests.support.db import deliver
from tests.support.tools import need
from tests.test_api import Api, create, make_token

pytestmark = pytest.mark.slow
LIMIT = 1.0
STATUS = re.compile(r"^X-Spam-Status: (?:Yes|No), score=(-?[\d.]+) .*?tests=(.*?)(?:\n\S|\Z)",
                    re.M | re.S)

# Local rules only (-L: no DNS, no network), no learning, nothing written to $HOME.
SETTINGS = ["use_bayes 0", "bayes_auto_learn 0", "use_auto_whitelist 0"]


def scores(spamassassin: str, mails: list[bytes], home) -> list[tuple[float, str]]:
    """(score, rules hit) per mail, from one SpamAssassin run over an mbox."""
    mbox = b"".join(b"From owlmail@localhost Wed Dec  2 10:00:00 2026\n"
                    + re.sub(rb"(?m)^From ", b">From ", mail.replace(b"\r\n", b"\n")) + b"\n"
                    for mail in mails)
    command = [spamassassin, "-L", "--mbox", "-x", *(f"--cf={line}" for line in SETTINGS)]
    result = subprocess.run(command, input=mbox, capture_output=True, timeout=300,
                            env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, check=True)
    found = STATUS.findall(result.stdout.decode("utf-8", "replace"))
    assert len(found) == len(mails), result.stderr.decode()[-2000:]
    return [(float(score), " ".join(rules.split())) for score, rules in found]


def test_what_owlmail_sends_scores_as_ham(smtp_app, smtp, tmp_path):
    spamassassin = need("spamassassin")
    FormClient(smtp_app.test_client()).submit(
        "/", {"email": "anna@example.org", "name": "Anna Müller", "topics": ["it"],
              "consent": "y"}, action="/subscribe")
    api = Api(smtp_app.test_client(), make_token(smtp_app))
    draft = create(api, subject="Digitalgipfel OWL: Ergebnisse und nächste Schritte")
    api.post(f"/campaigns/{draft['id']}/test", json={"emails": ["redaktion@example.org"]})
    deliver(smtp_app)
    with smtp_app.app_context():
        add_subscribers(1, prefix="leser", name="Jürgen Weiß")
        for template in TEMPLATES.values():
            campaign_id = add_campaign(subject=f"OWL morgen: {template.label}",
                                       body=template.skeleton(smtp_app.config)
                                       or "Hallo {{ name }}, die Ergebnisse des Gipfels.")
            db.session.execute(Campaign.__table__.update().where(Campaign.id == campaign_id)
                               .values(template=template.id))
            db.session.commit()
            run_due_campaigns()
        assert db.session.scalars(select(Campaign.template)).all()
    mails = [received.data for received in smtp.received]
    assert len(mails) == 2 + len(TEMPLATES)
    results = scores(spamassassin, mails, tmp_path)
    for (score, rules), mail in zip(results, mails, strict=True):
        subject = re.search(rb"(?m)^Subject: (.*)$", mail).group(1).decode()
        assert score <= LIMIT, f"{subject!r} scores {score}: {rules}"
