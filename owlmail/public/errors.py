"""One place that turns every error into a German page, or JSON for the API."""

import logging
import math
import time

from flask import Flask, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..extensions import limiter

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("Die Anfrage war unvollständig oder fehlerhaft."),
    401: _l("Bitte melden Sie sich an."),
    403: _l("Dafür fehlt Ihnen die Berechtigung."),
    404: _l("Diese Seite gibt es nicht."),
    405: _l("Diese Aktion ist hier nicht möglich."),
    409: _l("Das geht im aktuellen Zustand nicht."),
    410: _l("Dieser Link ist nicht mehr gültig."),
    413: _l("Die gesendeten Daten sind zu groß."),
    415: _l("Dieses Datenformat wird nicht unterstützt."),
    422: _l("Die Angaben konnten nicht verarbeitet werden."),
    429: _l("Zu viele Anfragen in kurzer Zeit. Bitte versuchen Sie es später noch einmal."),
    500: _l("Ein interner Fehler ist aufgetreten. Wir kümmern uns darum."),
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str | None = None, code: str | None = None):
    """A 4xx/5xx answer: JSON {"error": {...}} for the API, a German page for people."""
    message = message or str(MESSAGES.get(status, MESSAGES[400]))
    if wants_json():
        body = {"error": {"code": code or _code_name(status), "message": message}}
        return jsonify(body), status
    return render_template("errors/error.html", status=status, message=message), status


def _code_name(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")


def register_error_handlers(app: Flask) -> None:
    """Every HTTP error, CSRF failures and unexpected exceptions."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        message = _("Das Formular ist abgelaufen oder unvollständig. Bitte laden Sie die Seite "
                    "neu und senden Sie es noch einmal.")
        return error_response(400, message, "csrf")

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded):
        """429 with Retry-After: when the breached limit's window ends.

        Flask-Limiter's own headers would ask the limit store once more on every request
        (RATELIMIT_HEADERS_ENABLED, off), so only a refused request pays for this."""
        response, status = error_response(429)
        breached = limiter.current_limit
        if breached is not None:
            response = make_response(response, status)
            seconds = math.ceil(breached.window[0] - time.time())
            response.headers["Retry-After"] = str(max(1, seconds))
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        return error_response(exc.code)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error on %s", request.path)
        return error_response(InternalServerError.code)
