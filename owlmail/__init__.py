"""owlmail: newsletter and contact mailing service of OWL morgen."""

import functools
from pathlib import Path

from flask import Flask

from . import extensions as ext
from . import transactions  # noqa: F401  (SQLite's BEGIN follows each unit's intent)
from .config import Defaults
from .keyfiles import instance_secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None, instance_path: str | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, CLI, scheduler."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=instance_path,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    configure_settings(app, test_config)
    configure_extensions(app)
    configure_templates(app)
    configure_security(app)
    configure_inputs(app)
    configure_blueprints(app)
    configure_errors(app)
    configure_cli(app)
    configure_scheduler(app)
    return app


def configure_settings(app: Flask, test_config: dict | None) -> None:
    """Defaults, then instance/config.py, then OWLMAIL_* variables, then test overrides."""
    app.config.from_object(Defaults)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("OWLMAIL")
    if test_config:
        app.config.update(test_config)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        db_file = Path(app.instance_path) / "owlmail.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    for key, file_name in (("SECRET_KEY", "secret_key"), ("SUPPRESSION_KEY", "suppression_key")):
        if not app.config[key]:
            app.config[key] = instance_secret(app.instance_path, file_name)
    app.config["BASE_URL"] = app.config["BASE_URL"].rstrip("/")


def configure_extensions(app: Flask) -> None:
    """Bind every extension singleton to this app."""
    from .auth import configure_login

    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(PROJECT_ROOT / "migrations"))
    ext.csrf.init_app(app)
    ext.limiter.init_app(app)
    ext.babel.init_app(app, locale_selector=ext.select_locale)
    configure_login(app)
    from . import models  # noqa: F401  (every model registered with the metadata)


def configure_templates(app: Flask) -> None:
    """Template globals, and remembering a visitor's language choice."""
    from flask import request
    from flask_babel import get_locale, get_translations

    from .auth.services import remember_editor_language
    from .subscriptions.fields.forms import field_inputs, segment_inputs
    from .timeutil import berlin

    app.jinja_env.globals.update(get_locale=get_locale, field_inputs=field_inputs,
                                  segment_inputs=segment_inputs)
    app.jinja_env.filters["berlin"] = berlin

    @app.context_processor
    def catalogue_of_this_page():
        """Jinja's `_()` bound to the page's catalogue once per render: Flask-Babel's own
        looks the catalogue up again for every string (context, locale, domain each
        time). Macros imported without context still use Flask-Babel's; same result."""
        return _template_gettext(get_translations())

    @app.after_request
    def remember_language(response):
        chosen = request.args.get("lang")
        if chosen in app.config["LANGUAGES"]:
            response.set_cookie("lang", chosen, max_age=365 * 86400, samesite="Lax",
                                secure=app.config["SESSION_COOKIE_SECURE"])
            remember_editor_language(chosen)
        return response


@functools.lru_cache(maxsize=8)  # one catalogue per language (per app in the tests)
def _template_gettext(translations) -> dict:
    """Jinja's new-style gettext and ngettext (autoescaped, %-formatted) for one catalogue,
    as Jinja's i18n extension builds them from the callables Flask-Babel installs."""
    from jinja2.ext import _make_new_gettext, _make_new_ngettext

    return {"gettext": _make_new_gettext(translations.ugettext),
            "ngettext": _make_new_ngettext(translations.ungettext)}


def configure_security(app: Flask) -> None:
    """The visitor behind the proxies, secure cookies, security headers on every answer."""
    from .security import configure_security as configure

    configure(app)


def configure_inputs(app: Flask) -> None:
    """Refuse input the database cannot store (before any route is added)."""
    from .inputs import configure_inputs as configure

    configure(app)


def configure_blueprints(app: Flask) -> None:
    """Register each feature's views."""
    from .admin.audit_views import bp as audit_bp
    from .admin.fields_views import bp as fields_bp
    from .admin.views import bp as admin_bp
    from .api import register_api
    from .auth.views import bp as auth_bp
    from .campaigns.views import bp as campaigns_bp
    from .contact.admin_views import bp as contact_admin_bp
    from .contact.views import bp as contact_bp
    from .deliverability.views import bp as deliverability_bp
    from .delivery.views import bp as delivery_bp
    from .embed.admin_views import bp as embed_admin_bp
    from .embed.views import bp as embed_bp
    from .outbox.views import bp as outbox_bp
    from .public.views import bp as public_bp
    from .reports.views import bp as reports_bp
    from .subscriptions.views import bp as subscriptions_bp
    from .tracking.views import bp as tracking_bp

    for blueprint in (
        public_bp, subscriptions_bp, contact_bp, auth_bp, admin_bp, campaigns_bp, delivery_bp,
        contact_admin_bp, audit_bp, embed_bp, embed_admin_bp, fields_bp, reports_bp,
        deliverability_bp, tracking_bp,
    ):
        app.register_blueprint(blueprint)
    if app.config["DEV_OUTBOX"]:  # a deliberate development mode: otherwise no such route
        app.register_blueprint(outbox_bp)
    register_api(app)


def configure_errors(app: Flask) -> None:
    """German error pages for people, JSON errors for the API."""
    from .public.errors import register_error_handlers

    register_error_handlers(app)


def configure_cli(app: Flask) -> None:
    """The `flask --app owlmail …` commands."""
    from .cli import register_commands

    register_commands(app)


def configure_scheduler(app: Flask) -> None:
    """Start the in-process scheduler when SCHEDULER_ENABLED (make run)."""
    from .scheduler import start_in_web_process

    start_in_web_process(app)
