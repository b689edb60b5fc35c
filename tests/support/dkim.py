"""A DKIM key for the whole test run, and an independent verifier (dkimpy) that knows its
public key as if it were published in DNS. Every test app signs with it; the test SMTP
server refuses a mail whose signature does not verify."""

import atexit
import shutil
import tempfile
from pathlib import Path

import dkim

from owlmail.mail.dkim import dns_record, generate_key, private_key_pem

DOMAIN, SELECTOR = "owl-morgen.de", "test2026"
_folder = Path(tempfile.mkdtemp(prefix="owlmail-dkim-"))
atexit.register(shutil.rmtree, _folder, ignore_errors=True)
_key = generate_key()
KEY_FILE = _folder / "dkim.pem"
KEY_FILE.write_bytes(private_key_pem(_key))
RECORD_NAME, RECORD = dns_record(_key, SELECTOR, DOMAIN)

SETTINGS = {"DKIM_DOMAIN": DOMAIN, "DKIM_SELECTOR": SELECTOR,
            "DKIM_PRIVATE_KEY_FILE": str(KEY_FILE)}


def published(records: dict[str, str]):
    """A dnsfunc for dkimpy that answers from these records instead of DNS."""
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        value = records.get(name.decode().rstrip("."))
        return value.encode() if value else None
    return lookup


def verifies(raw: bytes, records: dict[str, str] | None = None) -> bool:
    """True when every DKIM signature of the mail verifies against the published key."""
    return bool(dkim.verify(raw, dnsfunc=published(records or {RECORD_NAME: RECORD})))
