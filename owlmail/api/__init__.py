"""The editors' JSON API under /api/v1.

flask-smorest: the marshmallow schemas both validate requests and make the OpenAPI
document at /api/v1/openapi.json, so the document cannot drift from the code.
"""

from flask import Flask
from flask_smorest import Api

from . import audit, campaigns, subscribers, topics
from .schemas import ErrorSchema


class OwlmailApi(Api):
    """flask-smorest with our error shape in the document and the app's error handlers."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Nothing app-wide: each API blueprint answers its errors as JSON itself."""


def register_api(app: Flask) -> None:
    """Register the API blueprint (bearer tokens, JSON errors, OpenAPI)."""
    app.config.setdefault("API_TEST_SEND_RATE_LIMIT", "20/hour")  # test copies per token
    app.config.setdefault("API_TITLE", "owlmail – API für die Redaktion")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "security": [{"bearerAuth": []}],
        "info": {"description": "Header `Authorization: Bearer <token>` (flask --app owlmail "
                                "editor token EMAIL). Errors: {\"error\": {\"code\", "
                                "\"message\"}}."},
    })
    api = OwlmailApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for module in (topics, campaigns, subscribers, audit):
        api.register_blueprint(module.blp)
