"""DKIM signatures (RFC 6376, relaxed/relaxed) on every mail that leaves owlmail.

The signature is made where every mail passes, the SMTP transport, so confirmations,
contact, test and campaign mails are all signed alike. dkimpy, the reference library,
needs about 30 ms per mail (it does RSA in Python); a campaign sends a thousand mails a
second, so this module canonicalises with a few regular expressions and signs with
`cryptography` (OpenSSL, which also lets go of the GIL: the sender threads sign in
parallel). The tests hold its output to dkimpy's, byte for byte, and verify with dkimpy.

    signer = DkimSigner.from_config(app.config)   # None when DKIM is not configured
    raw = signer.sign(raw)                        # DKIM-Signature header added on top
"""

import base64
import functools
import hashlib
import os
import re
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

# Signed when present, and once more than present ("over-signing"), so that a header
# added on the way (a second Subject, a forged List-Unsubscribe) breaks the signature.
# RFC 8058 §4 asks for List-Unsubscribe and List-Unsubscribe-Post in particular.
SIGNED_HEADERS = (
    "from", "to", "cc", "reply-to", "subject", "date", "message-id", "in-reply-to",
    "references", "mime-version", "content-type", "content-transfer-encoding", "list-id",
    "list-unsubscribe", "list-unsubscribe-post", "feedback-id", "auto-submitted",
)
_FIELD_START = re.compile(rb"\r\n(?![ \t])")
_WSP_RUN = re.compile(rb"[ \t]+")
_SPACES = re.compile(rb"  +")  # after tabs became spaces: a literal prefix scans fast
_FOLD = re.compile(rb"\r\n(?=[ \t])")


class DkimError(Exception):
    """The DKIM settings cannot be used (missing or unreadable key, bad selector)."""


def load_private_key(path: str | Path):
    """An RSA or Ed25519 private key from a PEM file."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise DkimError(f"DKIM key {path} cannot be read: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise DkimError(f"DKIM key {path} is neither RSA nor Ed25519")
    return key


def relaxed_header(field: bytes) -> bytes:
    """One header field in relaxed canonical form: name lower-cased, value unfolded, runs
    of white space made one space, none around the colon or at the end; CRLF at its end."""
    name, _, value = field.partition(b":")
    value = _WSP_RUN.sub(b" ", _FOLD.sub(b"", value)).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value + b"\r\n"


# A campaign's From, Subject, List-Id, Content-Type ... are the same in every mail: their
# canonical form is remembered (the personal fields take turns in the remaining places).
_relaxed_header_remembered = functools.lru_cache(maxsize=256)(relaxed_header)


def relaxed_body(body: bytes) -> bytes:
    """The body in relaxed canonical form: white space runs made one space, none at line
    ends, no empty lines at the end; CRLF after the last line (empty body: nothing)."""
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    body = _SPACES.sub(b" ", body).replace(b" \r\n", b"\r\n")
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def split_message(message: bytes) -> tuple[list[bytes], bytes]:
    """The header fields (each without its final CRLF) and the body of RFC 5322 bytes."""
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return _FIELD_START.split(message.rstrip(b"\r\n")), b""
    return _FIELD_START.split(message[:end]), message[end + 4:]


def _fields_by_name(fields: list[bytes]) -> dict[bytes, list[bytes]]:
    by_name: dict[bytes, list[bytes]] = {}
    for field in fields:
        name = field.partition(b":")[0].strip(b" \t").lower()
        by_name.setdefault(name, []).append(field)
    return by_name


class DkimSigner:
    """Signs finished mails for one domain and selector with one key."""

    def __init__(self, domain: str, selector: str, key) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", selector or ""):
            raise DkimError(f"DKIM selector {selector!r} is not a DNS label")
        self.domain, self.selector, self.key = domain.lower(), selector, key
        self.ed25519 = isinstance(key, ed25519.Ed25519PrivateKey)
        algorithm = "ed25519-sha256" if self.ed25519 else "rsa-sha256"
        self.head = (f"v=1; a={algorithm}; c=relaxed/relaxed; d={self.domain}; "
                     f"s={selector};").encode("ascii")

    @classmethod
    def from_config(cls, config) -> "DkimSigner | None":
        """The signer the settings ask for; None unless all three DKIM_* keys are set."""
        domain, selector = config.get("DKIM_DOMAIN"), config.get("DKIM_SELECTOR")
        key_file = config.get("DKIM_PRIVATE_KEY_FILE")
        if not (domain and selector and key_file):
            return None
        return cls(domain, selector, load_private_key(key_file))

    def sign(self, message: bytes, now: int | None = None) -> bytes:
        """The message with a DKIM-Signature header in front of its own headers."""
        fields, body = split_message(message)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        names, signed = self._select(_fields_by_name(fields))
        value = b"".join((
            self.head, b" t=", str(int(time.time()) if now is None else now).encode(),
            b";\r\n h=", b":".join(names), b";\r\n bh=", body_hash, b";\r\n b=",
        ))
        data = signed + relaxed_header(b"DKIM-Signature: " + value)[:-2]
        signature = base64.b64encode(self._signature(data))
        return b"DKIM-Signature: " + value + signature + b"\r\n" + message

    def _select(self, by_name: dict[bytes, list[bytes]]) -> tuple[list[bytes], bytes]:
        """h= (each present header once per occurrence, plus once more) and the signed
        fields' canonical bytes, taken from the bottom up as RFC 6376 §5.4.2 says."""
        names, signed = [], []
        for name in SIGNED_HEADERS:
            present = by_name.get(name.encode())
            if not present:
                continue
            names += [name.encode()] * (len(present) + 1)
            signed += [_relaxed_header_remembered(field) for field in reversed(present)]
        return names, b"".join(signed)

    def _signature(self, data: bytes) -> bytes:
        if self.ed25519:  # RFC 8463: Ed25519 over the SHA-256 of the data
            return self.key.sign(hashlib.sha256(data).digest())
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def dns_record(self) -> tuple[str, str]:
        """The TXT record to publish: its name and its value."""
        return dns_record(self.key, self.selector, self.domain)


def public_key_base64(key) -> str:
    """p= of the DNS record: SubjectPublicKeyInfo (RSA) or the raw 32 bytes (Ed25519)."""
    public = key.public_key()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(raw).decode("ascii")


def dns_record(key, selector: str, domain: str) -> tuple[str, str]:
    """The TXT record's name and value for this key."""
    kind = "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa"
    return f"{selector}._domainkey.{domain}", f"v=DKIM1; k={kind}; p={public_key_base64(key)}"


def generate_key(algorithm: str = "rsa", bits: int = 2048):
    """A new private key: RSA (2048 bits by default) or Ed25519."""
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key) -> bytes:
    """PKCS#8 PEM without a passphrase (the file is readable by its owner only)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def signer_for(app) -> "DkimSigner | None":
    """The app's signer, made once (the key file is read at the first mail)."""
    if "owlmail.dkim" not in app.extensions:
        app.extensions["owlmail.dkim"] = DkimSigner.from_config(app.config)
    return app.extensions["owlmail.dkim"]


def write_private_key(path: Path, key) -> None:
    """Write a new key file readable by its owner only; an existing file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))


def txt_strings(value: str) -> str:
    """A TXT value as DNS zone files want it: quoted strings of at most 255 characters."""
    return " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
