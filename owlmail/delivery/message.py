"""The bytes of one campaign mail, assembled fast from pre-rendered parts.

INTERFACE (used by the engine and by test sends):

    raw: bytes = build_campaign_message(compiled, fields, to="Name <a@b.de>",
                                        message_id=None, test=False)

multipart/alternative (text + html, quoted-printable, CRLF), List-Unsubscribe,
List-Unsubscribe-Post, List-Id, Date, unique Message-ID. First version via the
email package; replaced by a faster assembly in the delivery engine work.
"""

from email.utils import make_msgid

from flask import current_app

from ..campaigns.rendering import CompiledCampaign, PersonalFields
from ..mailing.message import build_message


def build_campaign_message(
    compiled: CompiledCampaign,
    fields: PersonalFields,
    *,
    to: str,
    message_id: str | None = None,
    test: bool = False,
) -> bytes:
    """RFC 5322 bytes of one campaign mail for one recipient."""
    text, html = compiled.render(fields)
    subject = f"[TEST] {compiled.subject}" if test else compiled.subject
    headers = {
        "List-Unsubscribe": f"<{fields.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": current_app.config["LIST_ID"],
    }
    msg = build_message(to, subject, text, html, headers=headers)
    if message_id:
        msg.replace_header("Message-ID", message_id)
    else:
        msg.replace_header("Message-ID", make_msgid(domain="owl-morgen.de"))
    return msg.as_bytes()
