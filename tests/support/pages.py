"""Helpers that read what a person would read: forms, links and mails."""

import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from html.parser import HTMLParser


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden" and attrs.get("name"):
            self.values.setdefault(attrs["name"], attrs.get("value") or "")


def hidden_fields(html: bytes | str) -> dict[str, str]:
    """The hidden inputs of a page (csrf_token, form_ts): first occurrence of each."""
    parser = _Inputs()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return parser.values


def links_in(msg: EmailMessage, path: str) -> list[str]:
    """Every link in a mail's text part that contains `path` (e.g. "/confirm/")."""
    text = msg.get_body(("plain",)).get_content()
    return [url for url in re.findall(r"https?://\S+", text) if path in url]


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05,
             what: str = "condition"):
    """Poll until predicate() is truthy; return its value, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)
