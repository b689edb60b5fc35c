"""Link scanners: who fetches a mail's links and images without being its reader.

The list is one data file (owlmail/data/link_scanners.json), each entry naming its
source. A request matches by a substring of its User-Agent or by the network its address
is in; a request without a User-Agent matches too (every browser sends one).
"""

import ipaddress
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Scanners:
    agents: tuple[str, ...]  # lower case
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    names: tuple[str, ...]  # what the list covers, for the report's sentence

    def match(self, user_agent: str | None, address: str | None) -> bool:
        """True when the request comes from a known scanner (or names no browser)."""
        if not user_agent:
            return True
        agent = user_agent.lower()
        if any(part in agent for part in self.agents):
            return True
        return self._in_networks(address)

    def _in_networks(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks if network.version == ip.version)


@cache
def scanners() -> Scanners:
    """The list in the package's data file, read once."""
    text = resources.files("owlmail").joinpath("data/link_scanners.json").read_text("utf-8")
    data = json.loads(text)
    agents = tuple(entry["contains"].lower() for entry in data["user_agents"])
    networks = tuple(ipaddress.ip_network(entry["cidr"]) for entry in data["networks"])
    names = dict.fromkeys(entry["name"] for entry in (*data["user_agents"], *data["networks"]))
    return Scanners(agents, networks, tuple(names))
