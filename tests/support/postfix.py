"""Debian's Postfix as a relay of the test's own: started in a configuration directory of
its own, it takes owlmail's mail on a loopback port and hands everything — the mails and
the bounces it writes itself — to the test's SMTP server. A temporary failure is returned
at once (maximal_queue_lifetime = 0), as a relay does after its retries ran out."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.smtp import free_port

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {folder}/queue
data_directory = {folder}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.owlmail.test
mydomain = owlmail.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_port}
smtp_dns_support_level = disabled
disable_dns_lookups = yes
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
maillog_file = {folder}/maillog
maillog_file_prefixes = {folder}
smtputf8_enable = no
alias_maps =
alias_database =
local_recipient_maps =
notify_classes =
"""


class Postfix:
    """postfix start-fg in a folder of its own; `port` takes mail, `log()` reads its log."""

    def __init__(self, postfix: str, relay_port: int) -> None:
        self.postfix, self.port = postfix, free_port()
        # Postfix's own processes run as the user postfix: the folder must be reachable.
        self.folder = Path(tempfile.mkdtemp(prefix="owlmail-postfix-"))
        self.folder.chmod(0o755)
        conf = self.folder / "conf"
        conf.mkdir()
        (self.folder / "queue").mkdir(mode=0o755)
        (self.folder / "data").mkdir()
        shutil.chown(self.folder / "data", "postfix")
        (conf / "main.cf").write_text(MAIN_CF.format(folder=self.folder, relay_port=relay_port))
        master = Path("/etc/postfix/master.cf").read_text().replace(
            "\nsmtp      inet  n       -       y       -       -       smtpd",
            f"\n127.0.0.1:{self.port} inet n - n - - smtpd")
        (conf / "master.cf").write_text(master)
        self._postconf("-F", "*/*/chroot = n")
        self.process: subprocess.Popen | None = None

    def _postconf(self, *args: str) -> None:
        subprocess.run(["postconf", "-c", str(self.folder / "conf"), *args], check=True)

    def start(self) -> "Postfix":
        self.process = subprocess.Popen(
            [self.postfix, "-c", str(self.folder / "conf"), "start-fg"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"Postfix did not start:\n{self.log()}")

    def log(self) -> str:
        path = self.folder / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([self.postfix, "-c", str(self.folder / "conf"), "stop"],
                       capture_output=True, check=False)
        if self.process is not None:
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def usable() -> str | None:
    """Why Postfix cannot run here (it needs root to start as its own user), or None."""
    return None if os.geteuid() == 0 else "starting Postfix needs root"
