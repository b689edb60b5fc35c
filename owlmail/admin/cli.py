"""`flask --app owlmail subscribers import FILE.csv` and `subscribers export`."""

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import audit
from ..extensions import db
from ..transactions import Intent, declare
from .csvfiles import export_lines, import_subscribers
from .services import AdminError


@click.group("subscribers")
def subscribers_group() -> None:
    """Import and export subscribers as UTF-8 CSV."""


@subscribers_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(path: str) -> None:
    """Import FILE.csv; bad rows are reported by line number and skipped."""
    declare(Intent.WRITE)  # the request context below must not make it a reading one
    # German messages (flask_babel) and url_for in the confirmation mails need a request.
    with current_app.test_request_context(), open(path, encoding="utf-8-sig", newline="") as f:
        try:
            report = import_subscribers(f, origin=f"cli:{click.format_filename(path)}")
        except AdminError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message)
        except UnicodeDecodeError:
            db.session.rollback()
            raise click.ClickException("Die Datei ist nicht in UTF-8 kodiert.")
        audit.record("cli", audit.AuditAction.IMPORT, f"subscribers ({report.imported})")
        db.session.commit()
        _print_report(report)


def _print_report(report) -> None:
    """Problems line by line on stderr, the summary on stdout."""
    for title, problems in (("Fehler", report.errors), ("Gesperrt", report.suppressed),
                            ("Schon vorhanden", report.existing)):
        for problem in problems:
            click.echo(f"Zeile {problem.line}: {title}: {problem.message} {problem.email}".rstrip(),
                       err=True)
    click.echo(f"Importiert: {report.imported} ({report.confirmed} bestätigt, {report.pending} "
               f"mit Bestätigungsmail), schon vorhanden: {len(report.existing)}, gesperrt: "
               f"{len(report.suppressed)}, fehlerhaft: {len(report.errors)}.")


@subscribers_group.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Datei statt der Standardausgabe.")
@with_appcontext
def export_command(output: str | None) -> None:
    """Write every subscriber with consent history as UTF-8 CSV."""
    declare(Intent.READ)  # brief reads, a page at a time: the site goes on writing
    with current_app.test_request_context():
        audit.record_apart("cli", audit.AuditAction.EXPORT, "subscribers")
        if output is None:
            for line in export_lines():
                sys.stdout.write(line)
            return
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.writelines(export_lines())
        click.echo(f"Export geschrieben: {output}", err=True)
