"""The editors' JSON API under /api/v1."""

from flask import Flask


def register_api(app: Flask) -> None:
    """Register the API blueprint (bearer tokens, JSON errors, OpenAPI)."""
