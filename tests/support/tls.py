"""A private certificate authority for tests (trustme): a relay's certificate that no
system trusts, and the CA file that makes it trusted through SSL_CERT_FILE."""

import ssl
from pathlib import Path

import trustme


class PrivateCA:
    """One CA; it issues the relay's certificate (by default for 127.0.0.1 and localhost)."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = folder / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self, *names: str) -> ssl.SSLContext:
        """What the relay presents: a certificate from this CA for `names`."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
        return context
