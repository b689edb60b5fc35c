"""Input no database can take is refused at the edge, before any view runs.

PostgreSQL refuses NUL bytes in text, lone surrogates cannot be encoded as UTF-8, and
every id and count column is a 32-bit integer: such input used to reach a query and
end in a 500 (SQLite hid it). One check of paths, query strings, forms, headers and
JSON bodies answers 400 instead, in German (JSON for the API); ids in paths are bounded
by the URL converter, so a number no row can have is a plain 404.
"""

import re
from collections.abc import Iterable

from flask import Flask, abort, current_app, make_response, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from .public.errors import error_response

MAX_INT = 2**31 - 1  # INTEGER columns on PostgreSQL
MIN_INT = -(2**31)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` in every route: non-negative and at most MAX_INT, else the URL matches
    nothing (404) instead of reaching the database."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,
                 max: int = MAX_INT, signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def configure_inputs(app: Flask) -> None:
    """Bound the int converter (before any route is added) and check every request."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_unstorable_input)


def checks_own_input(view):
    """Mark a view that stores nothing of the request and answers odd input itself (a
    link token with a NUL byte is no token: 404, not the 400 below)."""
    view.owlmail_own_input = True
    return view


def refuse_unstorable_input():
    """400 when a path part, query, form field or header cannot be stored; 422 for a
    JSON value (the API's status for a body it cannot take, as for its other checks)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "owlmail_own_input", False):
        return None
    if _has_unstorable_text():
        return _refusal(400)
    if not _json_is_storable():
        return _refusal(422)
    return None


def _refusal(status: int):
    return error_response(status, _(
        "Die Anfrage enthält Zeichen oder Zahlen, die wir nicht verarbeiten können "
        "(zum Beispiel ein Nullbyte). Bitte prüfen Sie Ihre Eingabe."), "invalid_input")


def _has_unstorable_text() -> bool:
    """Any NUL or lone surrogate in the path's parts, the query, the form (names of
    uploaded files included) or a header."""
    texts: list[Iterable[str]] = [
        (str(value) for value in (request.view_args or {}).values()),
        _keys_and_values(request.args),
        request.headers.values(),
    ]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        texts.append(_keys_and_values(request.form))
        texts.append(upload.filename or "" for upload in request.files.values())
    return any(UNSTORABLE.search(text) for group in texts for text in group)


def _keys_and_values(multidict) -> Iterable[str]:
    for key, value in multidict.items(multi=True):
        yield key
        yield value


def _json_is_storable() -> bool:
    """A JSON body parses, and holds no unstorable text and no integer beyond 32 bits
    (walked without recursion: a deeply nested body must not exhaust the stack)."""
    if not request.is_json:
        return True
    try:
        pending = [request.get_json(silent=True)]
    except RecursionError:  # json.loads itself recurses: "[[[[…" a hundred thousand deep
        return False
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif not _scalar_is_storable(value):
            return False
    return True


def _scalar_is_storable(value) -> bool:
    if isinstance(value, str):
        return UNSTORABLE.search(value) is None
    if isinstance(value, int) and not isinstance(value, bool):
        return MIN_INT <= value <= MAX_INT
    return True


def page_number(name: str = "page") -> int:
    """A 1-based page number from the query string: no number means the first page, a
    number beyond MAX_INT is refused (400) before it reaches an OFFSET."""
    value = request.args.get(name, "1")
    if not (value.isascii() and value.isdigit()):
        return 1
    if len(value) > 10 or int(value) > MAX_INT:
        abort(make_response(error_response(400, _(
            "Diese Seitenzahl gibt es nicht."), "invalid_page")))
    return max(int(value), 1)
