"""`flask --app owlmail editor create|token|dev-login`."""

import click


@click.group("editor")
def editor_group() -> None:
    """Manage editor accounts."""


@editor_group.command("dev-login")
def dev_login() -> None:
    """Print how to log in as an editor (make run)."""
    click.echo("Editor login: flask --app owlmail editor create EMAIL --role admin")
