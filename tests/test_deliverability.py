"""The deliverability page: the records owlmail's settings call for, and a check against
what a real DNS server (started by the test, serving a zone) answers."""

import pytest

from tests.conftest import log_in
from tests.support.dkim import RECORD, RECORD_NAME
from tests.support.dns import ZoneServer
from tests.support.pages import hidden_fields


def zone(*records: str) -> str:
    return "\n".join(records) + "\n"


def txt(name: str, value: str) -> str:
    """A TXT line, the value split in strings of at most 255 characters as DNS wants."""
    parts = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    return f"{name}. 300 IN TXT {parts}"


@pytest.fixture
def dns_server():
    servers = []

    def start(text: str) -> ZoneServer:
        server = ZoneServer(text).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def admin(make_app, make_editor, **settings):
    app = make_app(SPF_INCLUDE="spf.relay.example", **settings)
    client = app.test_client()
    log_in(client, make_editor(role="admin"))
    return client


def check(client) -> str:
    page = client.get("/admin/deliverability")
    response = client.post("/admin/deliverability", data=hidden_fields(page.get_data(True)))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_page_lists_spf_dkim_and_dmarc_for_the_sender_domain(make_app, make_editor):
    client = admin(make_app, make_editor)
    page = client.get("/admin/deliverability").get_data(as_text=True)
    assert "v=spf1 include:spf.relay.example ~all" in page
    assert RECORD_NAME in page and RECORD in page
    assert "_dmarc.owl-morgen.de" in page and "v=DMARC1; p=none" in page


def test_published_records_are_found(make_app, make_editor, dns_server):
    server = dns_server(zone(
        txt("owl-morgen.de", "v=spf1 mx include:spf.relay.example ~all"),
        txt(RECORD_NAME, RECORD),
        txt("_dmarc.owl-morgen.de", "v=DMARC1; p=quarantine; rua=mailto:d@owl-morgen.de")))
    client = admin(make_app, make_editor, DNS_NAMESERVERS=[server.address])
    page = check(client)
    assert page.count("dns-ok") == 3, page
    assert "p=quarantine" in page  # what DNS holds is shown next to the suggestion


def test_a_missing_or_wrong_record_is_named(make_app, make_editor, dns_server):
    other_key = RECORD.rpartition("p=")[0] + "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
    server = dns_server(zone(
        txt("owl-morgen.de", "v=spf1 include:_spf.google.com ~all"),
        txt(RECORD_NAME, other_key)))
    client = admin(make_app, make_editor, DNS_NAMESERVERS=[server.address])
    page = check(client)
    assert page.count("dns-different") == 2 and page.count("dns-missing") == 1, page


def test_the_check_needs_the_form_token(make_app, make_editor):
    client = admin(make_app, make_editor)
    assert client.post("/admin/deliverability").status_code == 400


def test_only_admins_see_the_page(make_app, make_editor):
    app = make_app()
    client = app.test_client()
    log_in(client, make_editor(email="redaktion2@owl-morgen.de"))
    assert client.get("/admin/deliverability").status_code == 403
