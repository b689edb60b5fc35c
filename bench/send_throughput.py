"""Campaign sending speed: owlmail's worker against the raw ceiling of the same machine.

    .venv/bin/python bench/send_throughput.py                 # 100,000 recipients, SQLite
    .venv/bin/python bench/send_throughput.py --n 10000
    .venv/bin/python bench/send_throughput.py --n 20000 --dkim   # a second run, signed
    .venv/bin/python bench/send_throughput.py --n 20000 --dkim ed25519
    .venv/bin/python bench/send_throughput.py --n 1000000 \\
        --database-uri postgresql+psycopg://postgres@127.0.0.1:5432/owlmail_bench_send

It seeds N confirmed subscribers in a fresh database (the PostgreSQL database given is
emptied first), starts a local SMTP sink (Postfix's C `smtp-sink` when installed, else
aiosmtpd in its own process) and measures in the same run:

1. the raw ceiling: pre-rendered mails of the same size sent with plain smtplib over
   the same number of connections (threads);
2. owlmail: a real campaign to all N sent by `flask --app owlmail worker` in its own
   process, end to end (audience, claims, rendering, VERP, state in the database),
   timed from the campaign's started_at to its finished_at;

and prints both rates, their ratio, the worker's CPU per mail and its peak RSS (VmHWM).
With --dkim a second campaign goes to all N with every mail signed (rsa-sha256, 2048
bits); the ceiling is measured again just before it, so load that came and went
between the two runs does not skew the signed ratio. Two more figures put the signed
rate in proportion: the signed ceiling (the same plain smtplib threads, each mail signed
before it goes) and the bound (every core busy, each mail costing what an unsigned one
cost the whole machine plus one signature measured alone): where the bound is under
0.5, no sender reaches half the unsigned ceiling on that machine.
Targets: ratio >= 0.5, peak RSS < 150 MB and flat from 10,000 to 1,000,000.
"""

import argparse
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

from ports import free_port, smtp_sink_binary, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SUBJECT = "Digitalgipfel OWL 2026: Programm, Sprecherinnen und Anmeldung"
PARAGRAPH = ("Beim Digitalgipfel OWL treffen sich Unternehmen, Hochschulen und Verwaltung "
             "aus Ostwestfalen-Lippe, um über Künstliche Intelligenz, digitale Bildung "
             "und die Industrie von morgen zu sprechen. ")
BODY = "Hallo {% if name %}{{ name }}{% else %}liebe Leserin, lieber Leser{% endif %},\n\n" + \
    "\n\n".join(f"## Programmpunkt {n}\n\n{PARAGRAPH * 3}[Mehr dazu](https://owl-morgen.de/p/{n})"
                for n in range(1, 9))


# --- the SMTP sink ---------------------------------------------------------------------


def run_aiosmtpd_sink(port: int) -> None:
    """`send_throughput.py --sink PORT`: accept and drop every mail."""
    from aiosmtpd.controller import Controller

    class Drop:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    controller = Controller(Drop(), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def start_sink() -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    sink = smtp_sink_binary()
    if sink:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        proc = subprocess.Popen([sink, *user, f"127.0.0.1:{port}", "1000"])
        name = "Postfix smtp-sink"
    else:
        proc = subprocess.Popen([sys.executable, __file__, "--sink", str(port)])
        name = "aiosmtpd (install postfix for smtp-sink: aiosmtpd becomes the limit)"
    wait_for_port(port)
    return proc, port, name


# --- database --------------------------------------------------------------------------

def fresh_database(uri: str | None, workdir: Path) -> str:
    if uri is None:
        return f"sqlite:///{workdir / 'send.sqlite'}"
    return uri


def make_app(uri: str, port: int, connections: int):
    from owlmail import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench-secret",
                       "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                       "SEND_CONNECTIONS": connections},
                      instance_path=str(Path(tempfile.gettempdir()) / "owlmail-bench-instance"))


def seed(app, n: int, tracking_percent: int = 0) -> int:
    """Empty schema, the topics, N confirmed subscribers (this percentage of them with
    tracking consent: their own link tokens and an open pixel) and one due campaign."""
    from sqlalchemy import insert

    from owlmail.extensions import db
    from owlmail.subscriptions.models import Subscriber
    from owlmail.subscriptions.seed import seed_topics
    from owlmail.timeutil import utcnow

    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_topics()
        db.session.commit()
        now = utcnow()
        chunk = 20_000
        for start in range(0, n, chunk):
            rows = [{"email": f"leser{i}@example.org", "email_key": f"leser{i}@example.org",
                     "name": f"Leserin {i}" if i % 2 else "", "status": "confirmed",
                     "source": "bench", "created_at": now, "requested_at": now,
                     "confirmed_at": now, "token_key": f"k{i:010d}",
                     "tracking": i % 100 < tracking_percent}
                    for i in range(start, min(start + chunk, n))]
            db.session.execute(insert(Subscriber.__table__), rows)
            db.session.commit()
    return add_campaign(app)


def add_campaign(app) -> int:
    """A draft campaign to every subscriber; its id."""
    from owlmail.campaigns.models import Campaign, CampaignStatus
    from owlmail.extensions import db

    with app.app_context():
        campaign = Campaign(subject=SUBJECT, body=BODY, status=CampaignStatus.DRAFT, topics=[])
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id
        db.session.remove()
        return campaign_id


def dkim_settings(workdir: Path, algorithm: str = "rsa") -> dict[str, str]:
    """A fresh key (RSA 2048 bits, or Ed25519): the worker's environment for signing."""
    from owlmail.mail.dkim import generate_key, write_private_key

    key_file = workdir / f"dkim-{algorithm}.pem"
    write_private_key(key_file, generate_key(algorithm))
    return {"OWLMAIL_DKIM_DOMAIN": "owl-morgen.de", "OWLMAIL_DKIM_SELECTOR": "bench",
            "OWLMAIL_DKIM_PRIVATE_KEY_FILE": str(key_file)}


def sample_message(app, campaign_id: int) -> bytes:
    """One mail as owlmail builds it, for the ceiling run's size."""
    from owlmail.campaigns.models import Campaign
    from owlmail.campaigns.rendering import compile_campaign
    from owlmail.delivery.engine import Links
    from owlmail.delivery.message import MessageBuilder
    from owlmail.delivery.services import Recipient
    from owlmail.extensions import db

    with app.app_context():
        builder = MessageBuilder(compile_campaign(db.session.get(Campaign, campaign_id)))
        recipient = Recipient(1, 1, 0, "leser1@example.org", "leser1@example.org",
                              "Leserin 1", "k0000000001")
        message = builder.build(Links().fields(recipient), "Leserin 1 <leser1@example.org>")
        db.session.remove()
        return message


def schedule_now(app, campaign_id: int) -> None:
    from owlmail.campaigns.models import Campaign, CampaignStatus
    from owlmail.extensions import db
    from owlmail.timeutil import utcnow

    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        campaign.status, campaign.send_at = CampaignStatus.SCHEDULED, utcnow()
        db.session.commit()
        db.session.remove()


def campaign_times(app, campaign_id: int):
    from owlmail.campaigns.models import Campaign
    from owlmail.extensions import db

    with app.app_context():
        db.session.expire_all()
        c = db.session.get(Campaign, campaign_id)
        result = (c.status.value, c.started_at, c.finished_at, c.sent_count, c.failed_count)
        db.session.commit()
        db.session.remove()
        return result


# --- measurements ----------------------------------------------------------------------

def ceiling(port: int, message: bytes, count: int, connections: int, signer=None) -> float:
    """Plain smtplib, pre-rendered bytes, `connections` threads: mails per second. With a
    DkimSigner each thread signs every mail before it goes (the signed ceiling)."""
    per_thread = count // connections

    def send_many():
        smtp = smtplib.SMTP("127.0.0.1", port)
        for i in range(per_thread):
            smtp.sendmail("bounce@owl-morgen.de", [f"leser{i}@example.org"],
                          message if signer is None else signer.sign(message))
        smtp.quit()

    threads = [threading.Thread(target=send_many) for _ in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_thread * connections / (time.perf_counter() - began)


def memory_mb(pid: int, field: str) -> float:
    """VmHWM (peak resident set) or VmRSS (now) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_busy_seconds() -> float:
    """CPU time all cores of the machine have spent on anything but idling (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class WorkerRun(NamedTuple):
    rate: float            # mails per second, started_at to finished_at
    seconds: float
    idle_mb: float         # RSS before the campaign
    sending_mb: float      # highest RSS while sending
    hwm_mb: float          # VmHWM
    failed: int
    cpu: str               # the worker's CPU per mail, as text
    machine_ms: float      # all cores' busy time per mail: worker, sink, kernel, this script


def run_worker(uri: str, port: int, connections: int, app, campaign_id: int, n: int,
               workdir: Path, extra_env: dict | None = None) -> WorkerRun:
    """The real worker process sends the campaign."""
    env = {**os.environ, "OWLMAIL_SQLALCHEMY_DATABASE_URI": uri,
           "OWLMAIL_SECRET_KEY": "bench-secret", "OWLMAIL_SUPPRESSION_KEY": "bench-suppression",
           "OWLMAIL_MAIL_SERVER": "127.0.0.1",
           "OWLMAIL_MAIL_PORT": str(port), "OWLMAIL_SEND_CONNECTIONS": str(connections),
           "OWLMAIL_CAMPAIGN_POLL_SECONDS": "0.2", **(extra_env or {})}
    log = workdir / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "owlmail", "worker"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    time.sleep(2.0)  # the worker is up before the campaign becomes due
    idle = memory_mb(worker.pid, "VmRSS")
    cpu_before, busy_before = cpu_seconds(worker.pid), machine_busy_seconds()
    schedule_now(app, campaign_id)
    rss = hwm = 0.0
    try:
        while True:
            time.sleep(0.5)
            rss = max(rss, memory_mb(worker.pid, "VmRSS"))
            status, started, finished, sent, failed = campaign_times(app, campaign_id)
            if status == "sent":
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker died:\n{log.read_text()[-3000:]}")
    finally:
        busy = machine_busy_seconds() - busy_before
        hwm = memory_mb(worker.pid, "VmHWM")
        cpu_after = cpu_seconds(worker.pid)
        cpu = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    seconds = (finished - started).total_seconds()
    if sent != n:
        print(f"warning: {sent} of {n} sent, {failed} failed; see {log}")
    per_mail = f"{1000 * sum(cpu) / max(sent, 1):.2f} ms per mail " \
        f"(user {1000 * cpu[0] / max(sent, 1):.2f}, system {1000 * cpu[1] / max(sent, 1):.2f})"
    return WorkerRun(sent / seconds, seconds, idle, rss, hwm, failed, per_mail,
                     1000 * busy / max(sent, 1))


def signer_from(env: dict[str, str]):
    """The DkimSigner the worker makes from these OWLMAIL_DKIM_* settings."""
    from owlmail.mail.dkim import DkimSigner

    return DkimSigner.from_config({key.removeprefix("OWLMAIL_"): value
                                   for key, value in env.items()})


def signature_ms(message: bytes, env: dict[str, str], count: int = 300) -> float:
    """CPU per DKIM signature of this message with the key in `env`, in one thread:
    canonical forms, hashes and the RSA or Ed25519 operation."""
    signer = signer_from(env)
    began = time.process_time()
    for _ in range(count):
        signer.sign(message)
    return 1000 * (time.process_time() - began) / count


def signed_bound(machine_ms_unsigned: float, sign_ms: float) -> float:
    """Mails per second the machine could sign and send at best: every core busy, each
    mail costing what an unsigned one cost the whole machine plus one signature."""
    return os.cpu_count() * 1000 / (machine_ms_unsigned + sign_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="recipients")
    parser.add_argument("--database-uri", help="default: a fresh SQLite file")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--ceiling-count", type=int, default=40_000,
                        help="mails for the plain-smtplib ceiling (at most --n)")
    parser.add_argument("--dkim", nargs="?", const="rsa", choices=["rsa", "ed25519"],
                        help="then send a second campaign to all N with DKIM signing on "
                             "(rsa-sha256 with 2048 bits unless ed25519 is named)")
    parser.add_argument("--tracking", type=int, default=0, metavar="PERCENT",
                        help="readers with tracking consent (own links and pixel)")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return run_aiosmtpd_sink(args.sink)

    workdir = Path(tempfile.mkdtemp(prefix="owlmail-send-"))
    sink, port, sink_name = start_sink()
    try:
        uri = fresh_database(args.database_uri, workdir)
        app = make_app(uri, port, args.connections)
        began = time.perf_counter()
        campaign_id = seed(app, args.n, args.tracking)
        print(f"database   {uri.split('@')[-1]}: {args.n:,} subscribers seeded in "
              f"{time.perf_counter() - began:.1f} s")
        message = sample_message(app, campaign_id)
        print(f"sink       {sink_name}; mail size {len(message):,} bytes; "
              f"{args.connections} connections")
        raw = ceiling(port, message, min(args.ceiling_count, args.n), args.connections)
        print(f"ceiling    plain smtplib, pre-rendered: {raw:,.0f} mails/s")
        run = run_worker(uri, port, args.connections, app, campaign_id, args.n, workdir)
        print(f"owlmail    worker, end to end: {run.rate:,.0f} mails/s "
              f"({args.n:,} in {run.seconds:.1f} s, {run.failed} failed; "
              f"worker CPU {run.cpu}; whole machine {run.machine_ms:.2f} ms per mail)")
        print(f"ratio      {run.rate / raw:.2f}  (target >= 0.5)")
        print(f"memory     worker RSS idle {run.idle_mb:.0f} MB, highest while sending "
              f"{run.sending_mb:.0f} MB, peak (VmHWM) {run.hwm_mb:.0f} MB  (target < 150 MB)")
        if args.dkim:
            signed_run(args, app, uri, port, message, workdir, run.machine_ms)
    finally:
        sink.terminate()
        sink.wait(10)


def signed_run(args, app, uri: str, port: int, message: bytes, workdir: Path,
               machine_ms_unsigned: float) -> None:
    """A second campaign to all N, every mail signed; the ceiling measured again first,
    and the best the machine could do with one signature more per mail."""
    signed_id = add_campaign(app)
    raw = ceiling(port, message, min(args.ceiling_count, args.n), args.connections)
    print(f"ceiling    again, just before the signed run: {raw:,.0f} mails/s")
    env = dkim_settings(workdir, args.dkim)
    run = run_worker(uri, port, args.connections, app, signed_id, args.n, workdir, env)
    name = "ed25519-sha256" if args.dkim == "ed25519" else "rsa-sha256 2048"
    print(f"with DKIM  {name}: {run.rate:,.0f} mails/s ({run.seconds:.1f} s, "
          f"{run.failed} failed; worker CPU {run.cpu}; whole machine "
          f"{run.machine_ms:.2f} ms per mail); ratio {run.rate / raw:.2f}; "
          f"peak (VmHWM) {run.hwm_mb:.0f} MB")
    signed_raw = ceiling(port, message, min(args.ceiling_count, args.n) // 2,
                         args.connections, signer_from(env))
    print(f"ceiling    signed too (each mail signed before smtplib sends it): "
          f"{signed_raw:,.0f} mails/s; owlmail's ratio to it {run.rate / signed_raw:.2f}")
    sign = signature_ms(message, env)
    bound = signed_bound(machine_ms_unsigned, sign)
    print(f"bound      one signature {sign:.2f} ms of CPU; unsigned mail + signature on "
          f"{os.cpu_count()} busy cores: at most {bound:,.0f} mails/s, ratio "
          f"{bound / raw:.2f}")


if __name__ == "__main__":
    main()
