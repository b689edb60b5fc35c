"""Two-factor login with TOTP (RFC 6238, pyotp): enrolment, codes taken once, recovery codes.

A code is accepted for the current 30-second step and one step either side (clocks of
phones drift), and only for a step later than the last accepted one: a code seen over
a shoulder or in a proxy log cannot be used a second time."""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy import delete

from ..extensions import db
from ..timeutil import utcnow
from .models import Editor, RecoveryCode

ISSUER = "OWL morgen"
RECOVERY_CODES = 10
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


class TwoFactorError(Exception):
    """A first code that does not match the secret being set up."""


def provisioning_uri(editor: Editor, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=editor.email, issuer_name=ISSUER)


def qr_svg(uri: str, title: str) -> str:
    """The QR code of the URI as an inline SVG, drawn on the server (no script, no image host)."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=2, title=title,
                                                 svgclass="qr", omitsize=False)


def begin(editor: Editor) -> str:
    """A new secret awaiting its first code (kept until confirmed or replaced)."""
    if editor.totp_pending_secret is None:
        editor.totp_pending_secret = pyotp.random_base32()
    return editor.totp_pending_secret


def confirm(editor: Editor, code: str) -> list[str]:
    """Turn two-factor login on with the first code; the new recovery codes (shown once)."""
    secret = editor.totp_pending_secret
    step = _matching_step(secret, code, after=None) if secret else None
    if step is None:
        raise TwoFactorError("code does not match")
    editor.totp_secret, editor.totp_pending_secret = secret, None
    editor.totp_last_step = step
    return new_recovery_codes(editor)


def enable(editor: Editor) -> list[str]:
    """Turn two-factor login on without a first code (command line); the recovery codes."""
    editor.totp_secret, editor.totp_pending_secret = pyotp.random_base32(), None
    editor.totp_last_step = None
    return new_recovery_codes(editor)


def reset(editor: Editor) -> None:
    """Turn two-factor login off (an admin helps an editor who lost the phone)."""
    editor.totp_secret = editor.totp_pending_secret = editor.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.editor_id == editor.id))


def new_recovery_codes(editor: Editor) -> list[str]:
    """Ten fresh single-use codes replacing the old ones; only their hashes are kept."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.editor_id == editor.id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(editor_id=editor.id, code_hash=_hash(code))
                       for code in codes)
    return codes


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _hash(code: str) -> str:
    normal = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(normal.encode()).hexdigest()


def verify(editor: Editor, code: str) -> bool:
    """A current TOTP code not used before, or an unused recovery code (then used up)."""
    if editor.totp_secret is None or not code:
        return False
    digits = code.strip().replace(" ", "")
    if digits.isdigit() and len(digits) == 6:
        step = _matching_step(editor.totp_secret, digits, after=editor.totp_last_step)
        if step is None:
            return False
        editor.totp_last_step = step
        return True
    return _use_recovery_code(editor, code)


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The time step (now ±1) whose code this is and that lies after `after`, or None."""
    totp = pyotp.TOTP(secret)
    now = totp.timecode(datetime.now(UTC))
    for step in (now - 1, now, now + 1):
        if (after is None or step > after) and hmac.compare_digest(
                totp.generate_otp(step), code.strip()):
            return step
    return None


def _use_recovery_code(editor: Editor, code: str) -> bool:
    wanted = _hash(code)
    for row in editor.recovery_codes:
        if row.used_at is None and hmac.compare_digest(row.code_hash, wanted):
            row.used_at = utcnow()
            return True
    return False


def recovery_codes_left(editor: Editor) -> int:
    return sum(1 for row in editor.recovery_codes if row.used_at is None)
