"""owlmail: newsletter and contact mailing service of OWL morgen."""

import functools
import secrets
from pathlib import Path

from flask import Flask

from . import extensions as ext
from .config import Defaults

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
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(app)
    app.config["BASE_URL"] = app.config["BASE_URL"].rstrip("/")


def _instance_secret(app: Flask) -> str:
    """A secret generated once per installation and kept in instance/."""
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def configure_extensions(app: Flask) -> None:
    """Bind every extension singleton to this app."""
    from .auth import configure_login

    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(PROJECT_ROOT / "migrations"))
    ext.mail.init_app(app)
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
    from .timeutil import berlin

    app.jinja_env.globals.update(get_locale=get_locale)
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
            response.set_cookie("lang", chosen, max_age=365 * 86400, samesite="Lax")
            remember_editor_language(chosen)
        return response


@functools.lru_cache(maxsize=8)  # one catalogue per language (per app in the tests)
def _template_gettext(translations) -> dict:
    """Jinja's new-style gettext and ngettext (autoescaped, %-formatted) for one catalogue,
    as Jinja's i18n extension builds them from the callables Flask-Babel installs."""
    from jinja2.ext import _make_new_gettext, _make_new_ngettext

    return {"gettext": _make_new_gettext(translations.ugettext),
            "ngettext": _make_new_ngettext(translations.ungettext)}


def configure_blueprints(app: Flask) -> None:
    """Register each feature's views."""
    from .admin.views import bp as admin_bp
    from .api import register_api
    from .auth.views import bp as auth_bp
    from .campaigns.views import bp as campaigns_bp
    from .contact.admin_views import bp as contact_admin_bp
    from .contact.views import bp as contact_bp
    from .mailing.views import bp as mailing_bp
    from .public.views import bp as public_bp
    from .subscriptions.views import bp as subscriptions_bp

    for blueprint in (
        public_bp, subscriptions_bp, contact_bp, mailing_bp, auth_bp, admin_bp, campaigns_bp,
        contact_admin_bp,
    ):
        app.register_blueprint(blueprint)
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
