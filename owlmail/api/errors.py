"""Every API error as JSON `{"error": {"code", "message"}}` with a 4xx status."""

from flask import jsonify
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from ..campaigns.services import CampaignError
from ..public.errors import error_response
from ..subscriptions.queries import QueryError


class ApiError(Exception):
    """An API request refused with a status, a stable code and a German message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_json(status: int, code: str, message: str, details: dict | None = None):
    """The JSON error answer."""
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="owlmail"'
    return response


def _flatten(messages, prefix: str = "") -> list[str]:
    """'field: message' lines from marshmallow's nested message dict."""
    if isinstance(messages, dict):
        lines = []
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            lines += _flatten(value, name)
        return lines
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {' '.join(messages)}" if prefix else " ".join(messages)]
    if isinstance(messages, list):
        return [line for item in messages for line in _flatten(item, prefix)]
    return [f"{prefix}: {messages}"]


def _validation_error(exc: HTTPException):
    """422 from the schemas: a German message naming each field, the details alongside."""
    messages = (getattr(exc, "data", None) or {}).get("messages") or {}
    # webargs nests by location ("json", "query"); the field names are what people need.
    fields = {}
    for by_field in messages.values():
        fields.update(by_field if isinstance(by_field, dict) else {"_": by_field})
    lines = " ".join(_flatten(fields)) or "unbekannter Fehler"
    return error_json(422, "invalid", f"Die Angaben sind ungültig – {lines}", fields)


def handle_http_error(exc: HTTPException):
    """Validation (422) and malformed JSON (400) in our words; the rest as the app does."""
    if exc.code == 422:
        return _validation_error(exc)
    if exc.code == 400 and getattr(exc, "data", None):
        return error_json(400, "invalid_json", "Der Inhalt ist kein gültiges JSON.")
    return error_response(exc.code or 500)


def register_error_handlers(blp: Blueprint) -> None:
    """Domain errors and HTTP errors of one API blueprint as JSON."""
    blp.register_error_handler(ApiError, lambda e: error_json(e.status, e.code, e.message))
    blp.register_error_handler(CampaignError, lambda e: error_json(e.status, e.code, e.message))
    blp.register_error_handler(QueryError, lambda e: error_json(e.status, e.code, e.message))
    blp.register_error_handler(HTTPException, handle_http_error)
