"""`flask --app owlmail dkim generate`: a signing key and the DNS record to publish."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .dkim import dns_record, generate_key, txt_strings, write_private_key
from .mime import sender_domain

dkim_group = AppGroup("dkim", help="DKIM signing keys.")


@dkim_group.command("generate")
@click.option("--selector", required=True, help="The DKIM selector, e.g. owl2026.")
@click.option("--algorithm", type=click.Choice(["rsa", "ed25519"]), default="rsa",
              show_default=True)
@click.option("--bits", type=click.IntRange(2048, 4096), default=2048, show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (default: instance/dkim-SELECTOR.pem).")
def generate_command(selector: str, algorithm: str, bits: int, out: Path | None) -> None:
    """Write a new private key and print the TXT record to publish."""
    config = current_app.config
    domain = config.get("DKIM_DOMAIN") or sender_domain(config["MAIL_DEFAULT_SENDER"])
    path = out or Path(current_app.instance_path) / f"dkim-{selector}.pem"
    key = generate_key(algorithm, bits)
    try:
        write_private_key(path, key)
    except FileExistsError:
        raise click.ClickException(f"{path} exists already; choose another selector or --out")
    name, value = dns_record(key, selector, domain)
    click.echo(f"Private key written to {path} (readable by its owner only).")
    click.echo(f"Settings: OWLMAIL_DKIM_DOMAIN={domain} OWLMAIL_DKIM_SELECTOR={selector} "
               f"OWLMAIL_DKIM_PRIVATE_KEY_FILE={path}")
    click.echo("Publish this DNS record, then set the settings above:")
    click.echo(f"{name}. IN TXT {txt_strings(value)}")
