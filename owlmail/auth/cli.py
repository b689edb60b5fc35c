"""`flask --app owlmail editor create|token|dev-login`."""

import secrets
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from . import services
from .models import Role

DEV_ADMIN = "admin@owl-morgen.de"


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
    db.session.commit()
    click.echo(f"Konto {editor.email} ({editor.role.value}) angelegt.")


@editor_group.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="Wofür das Token gedacht ist.")
@with_appcontext
def token_command(email: str, name: str) -> None:
    """Print a new API token for the editor, alone on the last line."""
    editor = services.editor_by_email(email)
    if editor is None or not editor.active:
        raise click.ClickException(f"Kein aktives Konto für {email}.")
    token = services.issue_api_token(editor, name)
    db.session.commit()
    click.echo(f"Neues API-Token für {editor.email} (nur jetzt sichtbar):")
    click.echo(token)


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
