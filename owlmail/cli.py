"""Command-line entry points: `flask --app owlmail worker`, `editor …`, `subscribers …`."""

import logging
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

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
    except SchedulerLocked as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def register_commands(app: Flask) -> None:
    """Attach every command group to the app's CLI."""
    from .auth.cli import editor_group
    from .subscriptions.cli import subscribers_group

    app.cli.add_command(worker_command)
    app.cli.add_command(editor_group)
    app.cli.add_command(subscribers_group)
