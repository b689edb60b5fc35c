"""A real DNS server on loopback (dnslib) that serves a test zone over UDP and TCP."""

from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

from tests.support.smtp import free_port


class ZoneServer:
    """Answers from the zone text given; `address` is "127.0.0.1:port"."""

    def __init__(self, zone: str) -> None:
        self.port = free_port()
        resolver = ZoneResolver(zone, glob=False)
        quiet = DNSLogger(log="-request,-reply,-truncated,-error", prefix=False)
        self.servers = [DNSServer(resolver, port=self.port, address="127.0.0.1", tcp=tcp,
                                  logger=quiet) for tcp in (False, True)]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "ZoneServer":
        for server in self.servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()
