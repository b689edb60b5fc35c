"""Bounces as a real MTA writes them: a campaign goes through Debian's Postfix, the next
server refuses with 452 4.2.2 (mailbox full) or 550 5.1.1 (no such user), Postfix writes
the delivery status notification to the VERP address, and it is piped into
`flask --app owlmail bounce` as the README's master.cf line does."""

import re

import pytest

from owlmail.delivery.engine import run_due_campaigns
from owlmail.subscriptions.models import SubscriberStatus
from tests.support.campaigns import add_campaign, add_subscribers
from tests.support.pages import wait_for
from tests.support.postfix import Postfix, usable
from tests.support.tools import need
from tests.test_bounces import actions, person, pipe

pytestmark = pytest.mark.slow


@pytest.fixture
def postfix(smtp):
    binary = need("postfix")
    if reason := usable():
        pytest.skip(reason)
    relay = Postfix(binary, smtp.port).start()
    yield relay
    relay.stop()


def until(found, what: str):
    """Poll until found() returns something (Postfix works in its own time), bounded."""
    return wait_for(found, timeout=20.0, what=what)


def dsn_for(smtp, verp: str) -> bytes:
    """The bounce Postfix sent to this VERP address."""
    return until(lambda: next((r.data for r in smtp.received
                               if r.recipients == [verp] and r.envelope_from in ("", "<>")), None),
                 f"a bounce to {verp}")


def test_postfix_bounces_are_read_as_soft_and_hard(make_app, smtp, postfix):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=postfix.port)
    smtp.handler.refuse["leser0@example.org"] = "452 4.2.2 Mailbox full"
    smtp.handler.refuse["leser1@example.org"] = "550 5.1.1 No such user here"
    with app.app_context():
        add_subscribers(3)
        add_campaign()
        assert run_due_campaigns() == 3  # Postfix took all three
    until(lambda: next((r for r in smtp.received if r.recipients == ["leser2@example.org"]),
                       None), "the mail Postfix relays")
    for address, outcome in (("leser0@example.org", SubscriberStatus.CONFIRMED),
                             ("leser1@example.org", SubscriberStatus.BOUNCED)):
        verp = until(lambda address=address: _verp_of(postfix.log(), address),
                     f"Postfix's log line for {address}")
        bounce = dsn_for(smtp, verp)
        assert b"Action: failed" in bounce
        result = pipe(app, bounce.decode("utf-8", "replace").replace("\r\n", "\n"), verp)
        assert result.exit_code == 0, result.output
        assert person(app, address).status == outcome
    assert actions(app, "leser0@example.org") == ["soft_bounce"]
    assert actions(app, "leser1@example.org") == ["bounced"]


def _verp_of(log: str, address: str) -> str | None:
    """The envelope sender Postfix logged for the queue entry that went to this address."""
    queue_ids = {m.group(1) for m in re.finditer(rf"(\w+): to=<{re.escape(address)}>", log)}
    for queue_id in queue_ids:
        found = re.search(rf"{queue_id}: from=<(bounce\+[^>]+)>", log)
        if found:
            return found.group(1)
    return None
