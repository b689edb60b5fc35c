"""The bytes of one campaign mail: the campaign's use of the one MIME builder.

INTERFACE (used by the engine and by test sends):

    raw: bytes = build_campaign_message(compiled, fields, to="Name <a@b.de>",
                                        message_id=None, test=False)

multipart/alternative (text + html, quoted-printable, CRLF), List-Unsubscribe,
List-Unsubscribe-Post, List-Id, Date, unique Message-ID.

The constant headers are encoded once per campaign and the bodies' unchanged lines
remembered (owlmail.mail.mime.MailBuilder); per recipient only To, Message-ID, Date,
List-Unsubscribe and the changed body lines are written.
"""

import secrets

from flask import current_app

from ..campaigns.rendering import CompiledCampaign, PersonalFields
from ..mail.mime import MailBuilder


def feedback_headers(config, campaign_id: int | None) -> dict[str, str]:
    """Feedback-ID for Gmail's feedback loop (campaign:list:sender, so complaints are
    reported per campaign) and, for members of the Certified Senders Alliance, the header
    that lets providers send complaints to the CSA."""
    headers = {"Feedback-ID": f"{campaign_id or 0}:newsletter:{config['FEEDBACK_ID_SENDER']}"}
    if config.get("CSA_COMPLAINTS"):
        headers["X-CSA-Complaints"] = "csa-complaints@eco.de"
    return headers


class MessageBuilder:
    """Builds one campaign's mails; the constant part is encoded once."""

    def __init__(self, compiled: CompiledCampaign, *, test: bool = False) -> None:
        config = current_app.config
        self.compiled = compiled
        self.tag = secrets.token_hex(6)
        subject = f"[TEST] {compiled.subject}" if test else compiled.subject
        self.mail = MailBuilder({
            "From": config["MAIL_DEFAULT_SENDER"],
            "Subject": subject.replace("\r", " ").replace("\n", " "),
            "List-Id": config["LIST_ID"],
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            **feedback_headers(config, compiled.campaign_id),
        })
        self.domain = self.mail.domain

    def message_id(self, ident: str | None = None) -> str:
        """A unique Message-ID on the sender's domain; `ident` unique within this builder."""
        if ident:  # a random tag per builder (campaign run) keeps it unique across runs
            return f"<{ident}.{self.tag}@{self.domain}>"
        return self.mail.message_id()

    def build(self, fields: PersonalFields, to: str, message_id: str | None = None) -> bytes:
        """RFC 5322 bytes of the mail for one recipient."""
        text, html = self.compiled.render(fields)
        unsubscribe = fields.unsubscribe_url.replace("\r", "").replace("\n", "")
        return self.mail.build(
            to, text, html, message_id=message_id,
            extra=b"List-Unsubscribe: <%b>\r\n" % unsubscribe.encode("ascii", "replace"))


def build_campaign_message(
    compiled: CompiledCampaign,
    fields: PersonalFields,
    *,
    to: str,
    message_id: str | None = None,
    test: bool = False,
) -> bytes:
    """RFC 5322 bytes of one campaign mail for one recipient."""
    return MessageBuilder(compiled, test=test).build(fields, to, message_id)
