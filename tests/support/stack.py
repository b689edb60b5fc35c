"""The README's production recipe on one machine, built from the files in deploy/.

nginx (deploy/nginx/owlmail.conf, a certificate from a test CA) terminates TLS in front of
gunicorn (the ExecStart line of deploy/systemd/owlmail-web.service), PostgreSQL, rate-limit
counts in Redis, and the worker (deploy/systemd/owlmail-worker.service), all configured by
deploy/owlmail.env.example with only the site-specific values replaced. `Relay` is an SMTP
relay that demands STARTTLS and AUTH, with a certificate from the same CA.

    with Stack(database_uri, redis_uri, mail=relay.settings(), ca=ca) as stack:
        visitor = stack.visitor("127.0.0.2")   # a client from its own loopback address
        visitor.get("/")

The production test and bench/signup_load.py both use it.
"""

import http.client
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.cookies import SimpleCookie
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.pages import hidden_fields, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
INSTALLED_AT = "/srv/owlmail"  # where the unit files expect the checkout
UPSTREAM = "127.0.0.1:8000"  # where the unit and the server block put gunicorn


def nginx_available() -> bool:
    return os.access(NGINX, os.X_OK)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- the files in deploy/ ---------------------------------------------------------------

def unit_setting(unit: str, key: str) -> str:
    """The value of `key=` in a systemd unit of deploy/systemd/ (the first such line)."""
    for line in (DEPLOY / "systemd" / unit).read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1]
    raise KeyError(f"{unit} has no {key}=")


def unit_command(unit: str, key: str = "ExecStart", port: int | None = None) -> list[str]:
    """A unit's command line with this checkout's venv for INSTALLED_AT/.venv/bin and,
    given a port, 127.0.0.1:<port> for gunicorn's 127.0.0.1:8000."""
    args = shlex.split(unit_setting(unit, key))
    venv = f"{INSTALLED_AT}/.venv/bin/"
    args = [str(Path(sys.executable).parent / a[len(venv):]) if a.startswith(venv) else a
            for a in args]
    if port is not None:
        args = [a.replace(UPSTREAM, f"127.0.0.1:{port}") for a in args]
    return args


def environment_file() -> dict[str, str]:
    """deploy/owlmail.env.example read as systemd reads an EnvironmentFile."""
    values = {}
    for line in (DEPLOY / "owlmail.env.example").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        values[key.strip()] = shlex.split(value)[0] if value[:1] in ("'", '"') else value
    return values


def server_name() -> str:
    """The host name the server block answers to."""
    text = (DEPLOY / "nginx" / "owlmail.conf").read_text()
    return re.search(r"^\s*server_name\s+([^\s;]+)", text, re.M)[1]


def server_block(https_port: int, http_port: int, upstream_port: int, cert: Path,
                 key: Path) -> str:
    """deploy/nginx/owlmail.conf with this run's ports and certificate, IPv4 loopback only."""
    text = (DEPLOY / "nginx" / "owlmail.conf").read_text()
    text = re.sub(r"^\s*listen\s+\[::\].*\n", "", text, flags=re.M)
    text = re.sub(r"listen\s+443\b", f"listen 127.0.0.1:{https_port}", text)
    text = re.sub(r"listen\s+80\b", f"listen 127.0.0.1:{http_port}", text)
    text = text.replace(f"http://{UPSTREAM}", f"http://127.0.0.1:{upstream_port}")
    text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", text)
    return re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", text)


NGINX_MAIN = """\
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    include {work}/owlmail.conf;
}}
"""


# --- the relay --------------------------------------------------------------------------

@dataclass
class Relayed:
    """One mail the relay took, and how the session that brought it was secured."""

    envelope_from: str
    recipients: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class _RelayHandler:
    received: list[Relayed] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data.login.decode() if session.auth_data else None
        mail = Relayed(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                       tls=session.ssl is not None, login=login)
        with self.lock:
            self.received.append(mail)
        return "250 2.0.0 queued"


class Relay:
    """An SMTP relay on 127.0.0.1 that refuses MAIL before STARTTLS and AUTH (aiosmtpd)."""

    def __init__(self, ca: trustme.CA) -> None:
        self.port = free_port()
        self.username = "owlmail"
        self.password = secrets.token_urlsafe(16)
        self.handler = _RelayHandler()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, tls_context=context,
            require_starttls=True, auth_required=True, auth_require_tls=True,
            authenticator=self._authenticate)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == (self.username,
                                                                     self.password)
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    def start(self) -> "Relay":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def settings(self) -> dict[str, str]:
        """The site-specific mail settings of the environment file, pointing here."""
        return {"OWLMAIL_MAIL_SERVER": "127.0.0.1", "OWLMAIL_MAIL_PORT": str(self.port),
                "OWLMAIL_MAIL_USERNAME": self.username, "OWLMAIL_MAIL_PASSWORD": self.password}

    @property
    def received(self) -> list[Relayed]:
        with self.handler.lock:
            return list(self.handler.received)

    def mails_to(self, address: str) -> list[Relayed]:
        return [mail for mail in self.received if address in mail.recipients]


# --- a visitor --------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cookies(self) -> SimpleCookie:
        """Every Set-Cookie of the answer, with its attributes."""
        jar = SimpleCookie()
        for value in self.headers.get_all("Set-Cookie") or []:
            jar.load(value)
        return jar


class _Connection(http.client.HTTPSConnection):
    """https to the site's name (SNI, certificate check) at a loopback address, from
    `source`: as a visitor with that address would reach nginx."""

    def __init__(self, name: str, address: tuple[str, int], source: str,
                 context: ssl.SSLContext) -> None:
        super().__init__(name, address[1], context=context, timeout=30,
                         source_address=(source, 0))
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Visitor:
    """A browser-like client with its own source address: keeps cookies, sends Referer.
    `direct`: to gunicorn itself over plain http, bypassing nginx (for comparison)."""

    def __init__(self, stack: "Stack", source: str, direct: bool = False) -> None:
        self.stack, self.source, self.direct = stack, source, direct
        self.cookies: dict[str, str] = {}
        self._conn: _Connection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        """One request over this visitor's kept-alive connection (reopened when closed)."""
        headers = {"Host": self.stack.host, "Referer": self.stack.url("/"),
                   "User-Agent": "owlmail-production-test", **(headers or {})}
        if self.cookies:
            headers.setdefault("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        for attempt in (1, 2):
            try:
                return self._exchange(method, path, body, headers)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, method, path, body, headers) -> Answer:
        if self._conn is None:
            self._conn = self._connect()
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        answer = Answer(response.status, response.headers, response.read())
        for name, morsel in answer.cookies().items():
            if morsel["max-age"] == "0" or not morsel.value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value
        if response.will_close:
            self.close()
        return answer

    def _connect(self) -> http.client.HTTPConnection:
        if self.direct:
            return http.client.HTTPConnection("127.0.0.1", self.stack.web_port, timeout=30,
                                              source_address=(self.source, 0))
        return _Connection(self.stack.name, ("127.0.0.1", self.stack.https_port),
                           self.source, self.stack.client_context())

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, data: dict | list, headers: dict | None = None) -> Answer:
        body = urllib.parse.urlencode(data, doseq=True).encode()
        return self.request("POST", path, body, {
            "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def submit(self, page: str, data: dict, action: str | None = None,
               headers: dict | None = None) -> Answer:
        """Open a form page, then post its hidden fields with `data`, as a browser does."""
        fields = hidden_fields(self.get(page).body)
        return self.post(action or page, {**fields, **data}, headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- the stack --------------------------------------------------------------------------

class Stack:
    """nginx → gunicorn → PostgreSQL, Redis and the worker, started from deploy/'s files.

    The database is a PostgreSQL schema of its own (dropped before and after), so it can
    share a database with the test suite; rate-limit keys carry a prefix of their own, so
    nothing in Redis is flushed."""

    SCHEMA = "owlmail_stack"

    def __init__(self, database_uri: str, redis_uri: str, mail: dict[str, str],
                 settings: dict[str, str] | None = None, ca: trustme.CA | None = None,
                 worker: bool = True) -> None:
        self.ca = ca or trustme.CA()
        self.database_uri, self.redis_uri = database_uri, redis_uri
        self.mail, self.settings, self.with_worker = mail, settings or {}, worker
        self.name = server_name()
        self.work = Path(tempfile.mkdtemp(prefix="owlmail-stack-"))
        self.https_port, self.http_port, self.web_port = free_port(), free_port(), free_port()
        self.host = f"{self.name}:{self.https_port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {}
        self._client_context: ssl.SSLContext | None = None
        self.keep_logs: Path | None = ROOT / "test-artifacts" / "stack"

    # -- addresses ------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"https://{self.host}{path}"

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the test CA only (one for every visitor)."""
        if self._client_context is None:
            self._client_context = ssl.create_default_context(cafile=str(self.work / "ca.pem"))
        return self._client_context

    def visitor(self, source: str, direct: bool = False) -> Visitor:
        return Visitor(self, source, direct)

    # -- start and stop -------------------------------------------------------------------
    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Stack":
        try:
            self._write_certificates()
            self.env = self._environment()
            self._reset_schema()
            self._run(unit_command("owlmail-web.service", "ExecStartPre"))
            self._start_web()
            if self.with_worker:
                self._spawn("worker", unit_command("owlmail-worker.service"))
            self._start_nginx()
            wait_for(self._healthy, 30, what=f"https://{self.host}/healthz through nginx")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            _terminate(self.processes[name])
        if self.env:
            self._drop_schema()
        self._keep_logs()
        shutil.rmtree(self.work, ignore_errors=True)

    def _keep_logs(self) -> None:
        """Every process's log under test-artifacts/stack/, for a person to read after a
        failed run (the working folder with its keys is removed)."""
        if self.keep_logs is None:
            return
        shutil.rmtree(self.keep_logs, ignore_errors=True)
        self.keep_logs.mkdir(parents=True)
        for log in self.work.glob("*.log"):
            shutil.copy(log, self.keep_logs / log.name)

    def _write_certificates(self) -> None:
        self.work.chmod(0o711)  # nginx's workers run as nobody when started by root
        self.ca.cert_pem.write_to_path(str(self.work / "ca.pem"))
        cert = self.ca.issue_cert(self.name)
        cert.private_key_pem.write_to_path(str(self.work / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(self.work / "server.pem"))
        for pem in cert.cert_chain_pems[1:]:
            pem.write_to_path(str(self.work / "server.pem"), append=True)

    def _environment(self) -> dict[str, str]:
        """The environment file with this run's database, Redis, relay, URL and secret;
        nothing of the caller's OWLMAIL_* settings leaks in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OWLMAIL_")}
        from_file = environment_file()
        site = {
            "OWLMAIL_SQLALCHEMY_DATABASE_URI": self._schema_uri(),
            "OWLMAIL_SECRET_KEY": secrets.token_urlsafe(32),
            "OWLMAIL_BASE_URL": f"https://{self.host}",
            "OWLMAIL_RATELIMIT_STORAGE_URI": self.redis_uri,
            **self.mail,
        }
        missing = sorted(set(site) - set(from_file))
        if missing:
            raise AssertionError(f"deploy/owlmail.env.example lacks {missing}")
        return {**env, **from_file, **site,
                "OWLMAIL_RATELIMIT_KEY_PREFIX": f"owlmail-stack-{secrets.token_hex(4)}",
                "SSL_CERT_FILE": str(self.work / "ca.pem"),
                "PYTHONUNBUFFERED": "1", **self.settings}

    def _schema_uri(self) -> str:
        sep = "&" if "?" in self.database_uri else "?"
        return f"{self.database_uri}{sep}options=-csearch_path%3D{self.SCHEMA}"

    def _sql(self, statement: str) -> None:
        import psycopg

        dsn = self.database_uri.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def _reset_schema(self) -> None:
        self._drop_schema()
        self._sql(f"CREATE SCHEMA {self.SCHEMA}")

    def _drop_schema(self) -> None:
        self._sql(f"DROP SCHEMA IF EXISTS {self.SCHEMA} CASCADE")

    def _start_web(self) -> None:
        self._spawn("gunicorn", unit_command("owlmail-web.service", port=self.web_port))

    def _start_nginx(self) -> None:
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.work / "tmp" / sub).mkdir(parents=True)
            (self.work / "tmp" / sub).chmod(0o777)
        (self.work / "tmp").chmod(0o711)
        (self.work / "owlmail.conf").write_text(server_block(
            self.https_port, self.http_port, self.web_port, self.work / "server.pem",
            self.work / "server.key"))
        (self.work / "nginx.conf").write_text(NGINX_MAIN.format(work=self.work))
        command = [NGINX, "-p", str(self.work), "-e", str(self.work / "nginx-error.log"),
                   "-c", str(self.work / "nginx.conf")]
        self._run([*command, "-t", "-q"])
        self._spawn("nginx", command)

    def _healthy(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
        probe = self.visitor("127.0.0.1")
        try:
            return probe.get("/healthz").status == 200
        except OSError:
            return False
        finally:
            probe.close()

    # -- processes ------------------------------------------------------------------------
    def flask(self, *args: str, stdin: str | None = None) -> str:
        """`flask --app owlmail ARGS` with the stack's settings; its output."""
        return self._run([str(Path(sys.executable).parent / "flask"), "--app", "owlmail",
                          *args], stdin)

    def _run(self, command: list[str], stdin: str | None = None) -> str:
        done = subprocess.run(command, cwd=ROOT, env=self.env, input=stdin, text=True,
                              capture_output=True, timeout=60, check=False)
        if done.returncode:
            raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}")
        return done.stdout

    def _spawn(self, name: str, command: list[str]) -> None:
        with (self.work / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def log(self, name: str) -> str:
        """What a process wrote (name: gunicorn, worker, nginx, nginx-error, nginx-access)."""
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""


def _terminate(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL when it does not stop within 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
