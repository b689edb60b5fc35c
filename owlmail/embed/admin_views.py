"""The editors' page for the embedded form: choose topics, fields and language, see the
snippet and a preview, copy it."""

from flask import Blueprint, render_template, request
from flask_babel import force_locale

from ..auth.decorators import editor_required
from ..subscriptions import services as subscriptions
from ..subscriptions.fields import services as fields
from . import services
from .views import render_snippet

bp = Blueprint("embed_admin", __name__, url_prefix="/admin/embed")


def _choices() -> dict:
    """What the editor chose (GET parameters; the language of the snippet, not the page)."""
    lang = request.args.get("snippet_lang")
    chosen = request.args.getlist("fields") if "chosen" in request.args else None
    return {"lang": lang if lang in ("de", "en") else "de",
            "topics": request.args.getlist("topics"), "fields": chosen,
            "source": (request.args.get("source") or "").strip()[:services.SOURCE_MAX_LENGTH]}


def _snippet(choice: dict) -> str:
    with force_locale(choice["lang"]):
        return render_snippet(choice["topics"], choice["fields"], choice["source"] or None)


@bp.get("")
@editor_required
def snippet():
    choice = _choices()
    offered = [f.key for f in fields.form_fields()] if choice["fields"] is None \
        else choice["fields"]
    return render_template(
        "embed/admin.html", choice=choice, offered=offered, snippet=_snippet(choice),
        topics=subscriptions.topic_labels(subscriptions.topic_choices()),
        all_fields=fields.all_fields(), origins=sorted(services.allowed_origins()),
        source_allowed=not choice["source"] or services.is_allowed(choice["source"]))


@bp.get("/snippet")
@editor_required
def snippet_only():
    """The snippet alone, for the page's live preview."""
    return _snippet(_choices()), 200, {"Content-Type": "text/html; charset=utf-8"}
