"""`flask --app owlmail subscribers import FILE.csv` and `subscribers export`."""

import click


@click.group("subscribers")
def subscribers_group() -> None:
    """Import and export subscribers as UTF-8 CSV."""
