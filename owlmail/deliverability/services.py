"""Which DNS records owlmail's settings call for (SPF, DKIM, DMARC, the bounce MX), and
whether DNS holds them now (dnspython, asked only when an admin presses the button)."""

from dataclasses import dataclass, replace

import dns.exception
import dns.resolver
from flask import current_app

from ..mail.dkim import DkimError, signer_for
from ..mail.mime import sender_domain

OK, MISSING, DIFFERENT, UNKNOWN = "ok", "missing", "different", "unknown"


@dataclass(frozen=True)
class Record:
    """One record to publish: what it is for, its name, type and value, and the check."""

    purpose: str  # spf | dkim | dmarc | bounce
    name: str
    kind: str  # TXT or MX
    value: str
    state: str = UNKNOWN
    found: tuple[str, ...] = ()


def expected_records(config) -> list[Record]:
    """The records the current settings need."""
    domain = sender_domain(config["MAIL_DEFAULT_SENDER"])
    records = [Record("spf", domain, "TXT", spf_value(config)),
               Record("dmarc", f"_dmarc.{domain}", "TXT",
                      f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}; adkim=r; aspf=r")]
    dkim = dkim_record(current_app._get_current_object())
    if dkim is not None:
        records.insert(1, dkim)
    bounce = config.get("BOUNCE_DOMAIN")
    if bounce and bounce != domain:
        records.append(Record("bounce", bounce, "MX", "10 <Ihr Mailserver für Bounces>"))
    return records


def spf_value(config) -> str:
    """SPF for the sender domain: the relay's include, else the relay host, else MX."""
    if config.get("SPF_INCLUDE"):
        mechanism = f"include:{config['SPF_INCLUDE']}"
    elif config.get("MAIL_SERVER"):
        mechanism = f"a:{config['MAIL_SERVER']}"
    else:
        mechanism = "mx"
    return f"v=spf1 {mechanism} ~all"


def dkim_record(app) -> Record | None:
    """The DKIM TXT record of the configured key; None when DKIM is not configured."""
    try:
        signer = signer_for(app)
    except DkimError:
        return None
    if signer is None:
        return None
    name, value = signer.dns_record()
    return Record("dkim", name, "TXT", value)


def check(records: list[Record], config) -> list[Record]:
    """Each record with what DNS answers now and whether that fits."""
    resolver = _resolver(config)
    return [replace(record, **_look_up(resolver, record)) for record in records]


def _resolver(config) -> dns.resolver.Resolver:
    """The system's resolver, or DNS_NAMESERVERS ("host" or "host:port") when set."""
    servers = config.get("DNS_NAMESERVERS")
    if not servers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        host, _, port = servers[0].rpartition(":") if ":" in servers[0] else (servers[0], "", "")
        resolver.nameservers = [host]
        resolver.port = int(port or 53)
    resolver.lifetime = 4.0
    return resolver


def _look_up(resolver, record: Record) -> dict:
    try:
        answer = resolver.resolve(record.name, record.kind)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return {"state": MISSING}
    except dns.exception.DNSException:
        return {"state": UNKNOWN}
    found = tuple(_text(item) for item in answer)
    return {"state": _fits(record, found), "found": found}


def _text(item) -> str:
    if hasattr(item, "strings"):  # TXT: the strings of one record belong together
        return b"".join(item.strings).decode("utf-8", "replace")
    return item.to_text()


def _fits(record: Record, found: tuple[str, ...]) -> str:
    """Whether what DNS holds does the job of the expected record."""
    if record.purpose == "bounce":
        return OK if found else MISSING
    prefix = record.value.split(";")[0].split(" ")[0]  # v=spf1, v=DKIM1, v=DMARC1
    mine = [value for value in found if value.replace(" ", "").lower().startswith(
        prefix.replace(" ", "").lower())]
    if not mine:
        return MISSING
    if record.purpose == "dkim":
        key = record.value.rpartition("p=")[2]
        return OK if any(key in value.replace(" ", "") for value in mine) else DIFFERENT
    if record.purpose == "spf":
        mechanism = record.value.split()[1]
        return OK if any(mechanism in value.split() for value in mine) else DIFFERENT
    return OK
