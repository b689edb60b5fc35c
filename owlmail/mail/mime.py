"""The one MIME builder: mail bytes assembled fast, constant part encoded once.

Building a whole MIME tree with the email package costs about a millisecond per mail.
The campaign sender and the transactional mails (confirmation, "already subscribed",
contact, notices) send mails that differ only in a few places, so the email package
encodes the headers that are the same for every mail once (`MailBuilder`), and per mail
only To, Date, Message-ID, a few extra headers and the bodies are written, the bodies
quoted-printable by binascii (C), remembering lines seen before.
"""

import binascii
import secrets
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, parseaddr

import idna

CRLF = b"\r\n"
PART_HEAD = (
    b"Content-Type: text/%s; charset=\"utf-8\"\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
)


def sender_domain(sender: str) -> str:
    """The domain of an address (for Message-IDs and the bounce address)."""
    return parseaddr(sender)[1].rpartition("@")[2] or "owl-morgen.de"


def new_boundary() -> bytes:
    """A multipart boundary; "=_" cannot occur in a quoted-printable body."""
    return f"=_owl_{secrets.token_hex(12)}".encode()


def constant_headers(headers: dict[str, str]) -> bytes:
    """Header lines encoded and folded by the email package, each ending in CRLF.

    RFC 2047 for non-ASCII values; a value with CR or LF raises ValueError."""
    msg = EmailMessage(policy=SMTP)
    for name, value in headers.items():
        msg[name] = value
    head = msg.as_bytes()
    return head[: head.index(b"\r\n\r\n") + 2]


def multipart_head(headers: dict[str, str], boundary: bytes) -> bytes:
    """The constant headers of a multipart/alternative mail (MIME-Version included)."""
    return constant_headers({
        **headers, "MIME-Version": "1.0",
        "Content-Type": f'multipart/alternative; boundary="{boundary.decode()}"',
    })


def encode_address(to: str) -> bytes:
    """A To header value in ASCII: RFC 2047 for a non-ASCII name, IDNA for the domain."""
    to = to.replace("\r", " ").replace("\n", " ")
    if to.isascii() and len(to) < 900:
        return to.encode("ascii")
    name, address = parseaddr(to)
    return formataddr((name, idna_address(address)), charset="utf-8").encode("ascii")


def idna_address(address: str) -> str:
    """The address with its domain in IDNA (xn--) form, as SMTP and headers need it."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    return f"{local}@{idna.encode(domain, uts46=True).decode()}"


class DateHeader:
    """The Date header value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second, self._value = -1, b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True).encode()
        return self._value


class QuotedPrintable:
    """Quoted-printable by lines, remembering lines seen before.

    Quoted-printable encodes each line on its own, so a mail's lines can be encoded
    separately. Most lines of a mail are the same for every recipient; only the few
    with a name or a link differ. The memory is bounded: once full, new lines are
    encoded without being kept.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.known: dict[str, bytes] = {}
        self.limit = limit

    def encode(self, text: str) -> bytes:
        """The text as quoted-printable, CRLF line ends, lines of at most 76 octets."""
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        if lines[-1] == "" and len(lines) > 1:
            lines.pop()
        known, out = self.known, []
        for line in lines:
            encoded = known.get(line)
            if encoded is None:
                # With its CRLF the line's soft breaks come out as CRLF too.
                encoded = binascii.b2a_qp((line + "\r\n").encode("utf-8"), istext=True)
                if len(known) < self.limit:
                    known[line] = encoded
            out.append(encoded)
        return b"".join(out)


def alternative_body(boundary: bytes, text_qp: bytes, html_qp: bytes) -> bytes:
    """The two parts of a multipart/alternative body, closing boundary included."""
    marker = b"--" + boundary
    return b"".join((
        marker, CRLF, PART_HEAD % b"plain", text_qp,
        marker, CRLF, PART_HEAD % b"html", html_qp,
        marker, b"--", CRLF,
    ))


class MailBuilder:
    """The mails of one kind: headers the same for every mail encoded once; per mail only
    To, Date, Message-ID, the caller's `extra` header lines and the bodies.

    With `html=False` the mail is a single text/plain part, else multipart/alternative."""

    def __init__(self, headers: dict[str, str], *, html: bool = True) -> None:
        self.domain = sender_domain(headers.get("From", ""))
        self.html = html
        if html:
            self.boundary = new_boundary()
            self.head = multipart_head(headers, self.boundary)
        else:
            self.head = constant_headers({
                **headers, "MIME-Version": "1.0",
                "Content-Type": 'text/plain; charset="utf-8"',
                "Content-Transfer-Encoding": "quoted-printable",
            })
        self.date = DateHeader()
        self.text_qp, self.html_qp = QuotedPrintable(), QuotedPrintable()

    def message_id(self) -> str:
        """A new unique Message-ID on the sender's domain."""
        return f"<{secrets.token_hex(10)}@{self.domain}>"

    def build(self, to: str, text: str, html: str | None = None, *,
              message_id: str | None = None, extra: bytes = b"") -> bytes:
        """RFC 5322 bytes (CRLF) of one mail; `extra` is complete header lines."""
        if self.html:
            body = alternative_body(self.boundary, self.text_qp.encode(text),
                                    self.html_qp.encode(html or ""))
        else:
            body = self.text_qp.encode(text)
        return b"".join((
            b"To: ", encode_address(to), CRLF,
            b"Date: ", self.date.now(), CRLF,
            b"Message-ID: ", (message_id or self.message_id()).encode("ascii"), CRLF,
            extra, self.head, CRLF, body,
        ))


def single_mail(headers: dict[str, str], to: str, text: str, html: str | None = None) -> bytes:
    """The bytes of a one-off mail (a contact message, a notice to editors).

    `headers` hold From, Subject and any others; a value with CR or LF raises ValueError."""
    return MailBuilder(headers, html=html is not None).build(to, text, html)


def format_address(name: str, email: str) -> str:
    """A display-name address; the email package quotes and encodes the name safely."""
    local, _, domain = email.rpartition("@")
    return str(Address(display_name=name or "", username=local, domain=domain))
