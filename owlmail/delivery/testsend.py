"""Test copies of a campaign: the real mail, marked [TEST], to a few addresses through
the outbox, with sample personal data and links that lead to the landing page."""

from flask import current_app

from ..addresses import ascii_address
from ..campaigns.models import Campaign
from ..campaigns.rendering import SAMPLE_NAME, PersonalFields, compile_campaign, validate_body
from ..campaigns.services import clean_test_recipients
from ..mail.mime import format_address
from ..outbox.message import queue_raw
from .message import build_campaign_message


def send_test(campaign: Campaign, emails: list[str]) -> list[str]:
    """Queue a test copy, marked [TEST], to each address; returns the addresses."""
    addresses = clean_test_recipients(emails)
    validate_body(campaign.body)
    compiled = compile_campaign(campaign)
    landing = current_app.config["BASE_URL"] + "/"
    for address in addresses:
        fields = PersonalFields(name=SAMPLE_NAME, email=address,
                                unsubscribe_url=landing, preferences_url=landing)
        envelope = ascii_address(address)
        raw = build_campaign_message(compiled, fields, to=format_address("", envelope),
                                     test=True)
        queue_raw(raw, [envelope], "test", f"[TEST] {campaign.subject}")
    return addresses
