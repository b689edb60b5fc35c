"""Command-line entry points: `flask --app owlmail worker`, `bounce`, `backup`,
`editor …`, `subscribers …`, `campaigns …`."""

import logging
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from .admin.cli import subscribers_group
from .auth.cli import editor_group
from .backup import BackupError, backup_sqlite
from .campaigns.cli import campaigns_group
from .delivery.bounces import handle
from .extensions import db
from .mail.cli import dkim_group
from .mail.transport import MailNotConfigured
from .scheduler import SchedulerLocked, run_worker


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run the scheduler and the sender in the foreground until SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        run_worker(current_app._get_current_object())
    except (SchedulerLocked, MailNotConfigured) as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


# A bounce quotes at most the original mail; anything far larger is not a bounce.
BOUNCE_MAX_BYTES = 10 * 1024 * 1024
EX_TEMPFAIL = 75  # sysexits.h: the mail server keeps the mail and tries again


@click.command("bounce")
@click.argument("recipient", required=False)
@with_appcontext
def bounce_command(recipient: str | None) -> None:
    """Read one bounce or complaint from stdin, as the mail server pipes it.

    RECIPIENT is the envelope recipient (Postfix: ${recipient}); without it the
    X-Original-To/Delivered-To/To headers are read. Exit 0 when the mail was handled or
    is not ours, 75 (try again) when the database could not be written.
    """
    raw = sys.stdin.buffer.read(BOUNCE_MAX_BYTES + 1)
    if len(raw) > BOUNCE_MAX_BYTES:
        click.echo("owlmail bounce: ignored, larger than 10 MB", err=True)
        return
    try:
        outcome = handle(raw, recipient)
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        click.echo(f"owlmail bounce: database error, try again later: {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    click.echo(f"owlmail bounce: {outcome.kind}: {outcome.reason}"
               + (f" (delivery {outcome.delivery_id})" if outcome.delivery_id else ""), err=True)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def backup_command(path: str) -> None:
    """Copy the SQLite database to PATH while the site runs (SQLite's online backup).

    The copy is one consistent moment of the database, a single file (no -wal beside
    it), written next to PATH first and then renamed: PATH is never half a backup. On
    PostgreSQL use pg_dump."""
    try:
        size = backup_sqlite(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(path))
    except BackupError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Sicherung geschrieben: {path} ({size / 1_048_576:.1f} MB)")


def register_commands(app: Flask) -> None:
    """Attach every command group to the app's CLI."""
    app.cli.add_command(worker_command)
    app.cli.add_command(bounce_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(editor_group)
    app.cli.add_command(dkim_group)
    app.cli.add_command(subscribers_group)
    app.cli.add_command(campaigns_group)
