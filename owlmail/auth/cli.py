"""`flask --app owlmail editor create|token|revoke|totp|dev-login`."""

import secrets
import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from ..audit.models import AuditAction
from ..audit.services import editor_target, record, token_target
from ..extensions import db
from ..timeutil import utcnow
from . import services, twofactor
from .models import Editor, Role

DEV_ADMIN = "admin@owl-morgen.de"
CLI = "cli"  # the actor of command-line changes in the audit log


@click.group("editor")
def editor_group() -> None:
    """Manage editor accounts."""


def _read_password() -> str:
    """The first line of stdin when piped; otherwise a hidden prompt with confirmation."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Passwort", hide_input=True, confirmation_prompt="Passwort wiederholen")


@editor_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.EDITOR.value,
              show_default=True, help="admin verwaltet Konten und Themen, editor Kampagnen.")
@click.option("--name", default="", help="Anzeigename.")
@with_appcontext
def create_command(email: str, role: str, name: str) -> None:
    """Create an editor account; the password is read from stdin or prompted."""
    password = _read_password()
    try:
        editor = services.create_editor(email, password, Role(role), name)
    except services.AccountError as exc:
        raise click.ClickException(str(exc))
    record(CLI, AuditAction.EDITOR_CREATED, editor_target(editor))
    db.session.commit()
    click.echo(f"Konto {editor.email} ({editor.role.value}) angelegt.")


def _active_editor(email: str) -> Editor:
    """The active account with this address, or a clear error."""
    editor = services.editor_by_email(email)
    if editor is None or not editor.active:
        raise click.ClickException(f"Kein aktives Konto für {email}.")
    return editor


@editor_group.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="Wofür das Token gedacht ist.")
@click.option("--days", type=click.IntRange(1, 3650), default=None,
              help="Gültig für so viele Tage (ohne: bis zum Widerruf).")
@with_appcontext
def token_command(email: str, name: str, days: int | None) -> None:
    """Print a new API token for the editor, alone on the last line."""
    editor = _active_editor(email)
    expires_at = utcnow() + timedelta(days=days) if days else None
    token, row = services.new_api_token(editor, name, expires_at)
    record(CLI, AuditAction.TOKEN_CREATED, token_target(row))
    db.session.commit()
    click.echo(f"Neues API-Token für {editor.email} (nur jetzt sichtbar):")
    click.echo(token)


@editor_group.command("revoke")
@click.argument("email")
@with_appcontext
def revoke_command(email: str) -> None:
    """Every API token of the editor stops working at once."""
    editor = services.editor_by_email(email)
    if editor is None:
        raise click.ClickException(f"Kein Konto für {email}.")
    count = services.revoke_all_tokens(editor)
    record(CLI, AuditAction.TOKEN_REVOKED, f"every token of {editor.email} ({count})")
    db.session.commit()
    click.echo(f"{count} API-Token von {editor.email} widerrufen.")


@editor_group.command("totp")
@click.argument("email")
@with_appcontext
def totp_command(email: str) -> None:
    """Turn on two-factor login; print recovery codes, and the otpauth:// URI on the last line."""
    editor = _active_editor(email)
    codes = twofactor.enable(editor)
    record(CLI, AuditAction.TWO_FACTOR_ON, editor_target(editor))
    db.session.commit()
    click.echo(f"Zwei-Faktor-Anmeldung für {editor.email} ist eingeschaltet.")
    click.echo("Wiederherstellungscodes (je einmal gültig, nur jetzt sichtbar):")
    for code in codes:
        click.echo(f"  {code}")
    click.echo("In die Authenticator-App übernehmen (als QR-Code oder Link):")
    click.echo(twofactor.provisioning_uri(editor, editor.totp_secret))


def _dev_refusal() -> str | None:
    """Why dev-login must not run here (a real mail server or PostgreSQL), or None."""
    if current_app.config.get("MAIL_SERVER"):
        return "MAIL_SERVER ist gesetzt – dev-login gibt es nur für die lokale Entwicklung."
    if db.engine.dialect.name != "sqlite":
        return "Die Datenbank ist kein lokales SQLite – dev-login gibt es nur für die Entwicklung."
    return None


@editor_group.command("dev-login")
@with_appcontext
def dev_login() -> None:
    """Make sure a local admin exists with a fresh password and print how to log in."""
    refusal = _dev_refusal()
    if refusal:
        click.echo(refusal, err=True)
        sys.exit(1)
    password = secrets.token_urlsafe(12)
    editor = services.editor_by_email(DEV_ADMIN)
    if editor is None:
        editor = services.create_editor(DEV_ADMIN, password, Role.ADMIN, "Entwicklung")
    else:
        services.set_password(editor, password)
        editor.active, editor.role = True, Role.ADMIN
    db.session.commit()
    click.echo("\nRedaktions-Login für die lokale Entwicklung:")
    click.echo("  Adresse:  http://127.0.0.1:5000/admin/login")
    click.echo(f"  E-Mail:   {DEV_ADMIN}")
    click.echo(f"  Passwort: {password}")
    click.echo("(Bei jedem `make run` gibt es ein neues Passwort.)\n")
