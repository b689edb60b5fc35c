"""The bytes of one campaign mail, assembled fast from pre-rendered parts.

INTERFACE (used by the engine and by test sends):

    raw: bytes = build_campaign_message(compiled, fields, to="Name <a@b.de>",
                                        message_id=None, test=False)

multipart/alternative (text + html, quoted-printable, CRLF), List-Unsubscribe,
List-Unsubscribe-Post, List-Id, Date, unique Message-ID.

The constant headers are encoded once per campaign and the bodies' unchanged lines
remembered (owlmail.mailing.wire); per recipient only To, Message-ID, Date,
List-Unsubscribe and the changed body lines are written.
"""

import secrets

from flask import current_app

from ..campaigns.rendering import CompiledCampaign, PersonalFields
from ..mailing.wire import (
    CRLF,
    DateHeader,
    QuotedPrintable,
    alternative_body,
    encode_address,
    multipart_head,
    new_boundary,
    sender_domain,
)


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
        self.domain = sender_domain(config["MAIL_DEFAULT_SENDER"])
        self.boundary = new_boundary()
        self.tag = secrets.token_hex(6)
        subject = f"[TEST] {compiled.subject}" if test else compiled.subject
        self.head = multipart_head({
            "From": config["MAIL_DEFAULT_SENDER"],
            "Subject": subject.replace("\r", " ").replace("\n", " "),
            "List-Id": config["LIST_ID"],
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            **feedback_headers(config, compiled.campaign_id),
        }, self.boundary)
        self.date = DateHeader()
        self._text_qp, self._html_qp = QuotedPrintable(), QuotedPrintable()

    def message_id(self, ident: str | None = None) -> str:
        """A unique Message-ID on the sender's domain; `ident` unique within this builder."""
        if ident:  # a random tag per builder (campaign run) keeps it unique across runs
            return f"<{ident}.{self.tag}@{self.domain}>"
        return f"<{secrets.token_hex(10)}@{self.domain}>"

    def build(self, fields: PersonalFields, to: str, message_id: str | None = None) -> bytes:
        """RFC 5322 bytes of the mail for one recipient."""
        text, html = self.compiled.render(fields)
        unsubscribe = fields.unsubscribe_url.replace("\r", "").replace("\n", "")
        return b"".join((
            b"To: ", encode_address(to), CRLF,
            b"Date: ", self.date.now(), CRLF,
            b"Message-ID: ", (message_id or self.message_id()).encode("ascii"), CRLF,
            b"List-Unsubscribe: <", unsubscribe.encode("ascii", "replace"), b">", CRLF,
            self.head, CRLF,
            alternative_body(self.boundary, self._text_qp.encode(text),
                             self._html_qp.encode(html)),
        ))


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
