"""The links and the open pixel of campaign mails: answered at once, counted in batches.

    GET /r/<token>        302 to the link's address; a click (HEAD: answered, not counted)
    GET /o/<token>.gif    a transparent 1×1 GIF; an open (only in mails of consenting readers)

A token is signed; the address comes from the stored link, never from the token. A
forged, edited or unknown token gets 404. Neither the visitor's address nor the User-Agent
is stored: they only decide whether the fetch is a link scanner's (counted as filtered).
"""

import base64

from flask import Blueprint, current_app, redirect, render_template, request
from flask_babel import gettext as _
from werkzeug.urls import iri_to_uri

from ..inputs import checks_own_input
from ..tokens import NumberSigner, Purpose, TokenError
from .counter import counter
from .models import OPEN_PIXEL
from .scanners import scanners
from .services import link_url

bp = Blueprint("tracking", __name__)
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _signer(purpose: Purpose) -> NumberSigner:
    """The purpose's signer, its keys derived once per app."""
    key = f"owlmail.signer.{purpose}"
    signer = current_app.extensions.get(key)
    if signer is None:
        signer = current_app.extensions[key] = NumberSigner(purpose)
    return signer


def _is_filtered() -> bool:
    """A HEAD request or a link scanner: answered, not counted as a person's."""
    return request.method == "HEAD" or scanners().match(request.headers.get("User-Agent"),
                                                         request.remote_addr)


def _not_found():
    return render_template("errors/error.html", status=404, message=_(
        "Diesen Link kennen wir nicht. Bitte prüfen Sie, ob er vollständig kopiert "
        "wurde.")), 404


@bp.get("/r/<token>")
@checks_own_input  # a NUL byte or anything else odd in a token is simply not a token
def click(token: str):
    """Redirect to the link's address and count the click."""
    try:
        numbers = _signer(Purpose.CLICK).loads(token)
    except TokenError:
        return _not_found()
    if len(numbers) not in (2, 3) or not numbers[1]:
        return _not_found()
    url = link_url(numbers[0], numbers[1])
    if url is None:
        return _not_found()
    reader = numbers[2] if len(numbers) == 3 else None
    counter(current_app._get_current_object()).add(numbers[0], numbers[1], reader,
                                                   _is_filtered())
    response = redirect(iri_to_uri(url), 302)
    response.headers.update(NO_STORE)
    return response


@bp.get("/o/<token>.gif")
@checks_own_input
def opened(token: str):
    """The open pixel of a consenting reader's mail."""
    try:
        campaign_id, reader = _signer(Purpose.OPEN).loads(token, 2)
    except (TokenError, ValueError):
        return _not_found()
    counter(current_app._get_current_object()).add(campaign_id, OPEN_PIXEL, reader,
                                                   _is_filtered())
    return GIF, 200, {"Content-Type": "image/gif", **NO_STORE}
