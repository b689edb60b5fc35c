"""Loopback ports for the benchmarks' own servers, and the SMTP sink they prefer."""

import os
import shutil
import socket
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    """Return once something accepts connections on the port; exit the run otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout}s")


def smtp_sink_binary() -> str | None:
    """Postfix's smtp-sink (written in C, so the sink is not what limits a run), if installed."""
    found = shutil.which("smtp-sink")
    if found:
        return found
    return "/usr/sbin/smtp-sink" if os.path.exists("/usr/sbin/smtp-sink") else None
