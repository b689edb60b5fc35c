"""The delivery engine: sends due campaigns to every recipient exactly once.

One run per sending campaign: the calling thread claims batches and writes outcomes
(group commits); SEND_CONNECTIONS sender threads each hold one persistent SMTP
connection. A sender builds its next mail while it waits, but sends it only after
the outcome of its previous one is committed — so a kill -9 repeats at most one mail
per connection. Status (pause, cancel) is read twice a second; a stop request
(SIGTERM) lets every connection finish the mail it is sending, then returns the
unsent claims.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass
from email.utils import formataddr

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import text

from ..addresses import ascii_address
from ..campaigns.links import store_links
from ..campaigns.models import CampaignStatus
from ..campaigns.rendering import PersonalFields, ReaderLinks, compile_campaign
from ..extensions import db
from ..mail.retry import CONNECT_BACKOFF
from ..mail.transport import ConnectionLost, Deferred, Refused, make_connection
from ..tokens import LinkSigner, Purpose
from . import services
from .message import MessageBuilder
from .outcomes import Outcome, Result
from .services import Recipient, worker_id
from .throttle import Throttle
from .verp import bounce_domain, verp_address

log = logging.getLogger(__name__)

STATUS_CHECK_SECONDS = 0.5
PROGRESS_SECONDS = 5.0
GROUP_WAIT_SECONDS = 0.001  # how long a group commit waits for more outcomes

_stopping = threading.Event()
_cleared_claims: set[str] = set()  # databases whose dead claims this process gave back


class _ServerState:
    """When the SMTP server was last unreachable, so polls do not hammer it."""

    failures = 0
    retry_at = 0.0

    @classmethod
    def down(cls) -> None:
        cls.failures += 1
        cls.retry_at = time.monotonic() + CONNECT_BACKOFF.seconds(cls.failures)

    @classmethod
    def up(cls) -> None:
        cls.failures, cls.retry_at = 0, 0.0

    @classmethod
    def waiting(cls) -> bool:
        return time.monotonic() < cls.retry_at


def request_stop() -> None:
    """Ask running campaign runs to finish the mails in flight and return (SIGTERM)."""
    _stopping.set()


def allow_sending() -> None:
    """Undo request_stop (a scheduler starting again in this process)."""
    _stopping.clear()


def run_due_campaigns() -> int:
    """Scheduled: start due campaigns, tidy cancelled ones, send what is pending."""
    while services.start_due_campaign() is not None:
        db.session.commit()
        services.refresh_statistics()
    db.session.commit()
    services.skip_cancelled()
    db.session.commit()
    campaign_ids = services.sending_campaign_ids()
    me = worker_id()
    _clear_dead_claims(campaign_ids, me)
    sent = 0
    for campaign_id in campaign_ids:
        if _stopping.is_set() or _ServerState.waiting():
            break
        sent += CampaignRun(campaign_id, me).run()
    return sent


def _clear_dead_claims(campaign_ids: list[int], me: str) -> None:
    """Once per process and database: take back claims of workers that died."""
    uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
    if campaign_ids and uri not in _cleared_claims:
        released = services.release_dead_claims(campaign_ids, me)
        db.session.commit()
        _cleared_claims.add(uri)
        if released:
            log.info("took back %s deliveries claimed by workers that are gone", released)


# --- per-recipient pieces --------------------------------------------------------------

class Links:
    """Unsubscribe and preferences links, the same tokens subscriptions.services signs
    (tokens.LinkSigner: the fast path of tokens.sign); a reader with tracking consent
    also gets their own link tokens and open pixel."""

    def __init__(self, campaign_id: int | None = None, link_count: int = 0) -> None:
        config = current_app.config
        self.campaign = [campaign_id] if campaign_id else []  # whose mail a link came in
        self.readers = ReaderLinks(campaign_id, link_count) if campaign_id else None
        adapter = current_app.url_map.bind("localhost", script_name=config["APPLICATION_ROOT"])
        base = config["BASE_URL"]
        self.unsubscribe = base + adapter.build("subscriptions.unsubscribe", {"token": "T"})[:-1]
        self.preferences = base + adapter.build("subscriptions.preferences", {"token": "T"})[:-1]
        self._unsubscribe = LinkSigner(Purpose.UNSUBSCRIBE)
        self._preferences = LinkSigner(Purpose.PREFERENCES)

    def fields(self, recipient: Recipient) -> PersonalFields:
        payload = [recipient.subscriber_id, recipient.token_key, *self.campaign]
        fields = PersonalFields(
            recipient.name, recipient.email,
            self.unsubscribe + self._unsubscribe.dumps(payload),
            self.preferences + self._preferences.dumps(payload))
        if recipient.tracking and self.readers is not None:
            return self.readers.fields(fields, recipient.subscriber_id)
        return fields


def builders_by_language(campaign) -> dict[str, MessageBuilder]:
    """The campaign compiled once per language: the editors' text as written, the frame
    around it (why you get this, unsubscribe, preferences, imprint) in the reader's; its
    links lead through /r/ (the same link numbers in every language: the body decides)."""
    builders = {}
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            builders[language] = MessageBuilder(compile_campaign(campaign, track=True))
    return builders


@dataclass
class Job:
    recipient: Recipient
    envelope_from: str


# --- one campaign run ------------------------------------------------------------------

TAKEN = Result(Outcome.SENT)  # one object for every mail taken: compared by identity
NOT_SENT = Result(Outcome.RELEASED)


class Sender(threading.Thread):
    """One persistent SMTP connection, fed from the run's job queue."""

    def __init__(self, run: "CampaignRun", number: int) -> None:
        super().__init__(name=f"sender-{run.campaign_id}-{number}", daemon=True)
        self.run_ = run
        self.connection = make_connection()
        self.ack: queue.SimpleQueue[None] = queue.SimpleQueue()  # one token: may send
        self.ack.put(None)

    def run(self) -> None:
        run = self.run_
        try:
            while (job := run.jobs.get()) is not None:
                self.waited = False
                result = self._build_and_deliver(job)
                self._wait_until_recorded()
                run.results.put((self, job, result))
        finally:
            self.connection.close()

    def _build_and_deliver(self, job: Job) -> Result:
        try:
            message = self.run_.build(job.recipient)
        except Exception as exc:  # a bug must not leave the claim hanging
            log.exception("campaign %s: building a mail failed", self.run_.campaign_id)
            return Result(Outcome.BROKEN, None, f"{type(exc).__name__}: {exc}")
        return self._deliver(job, message)

    def _wait_until_recorded(self) -> None:
        """Block until the outcome of this sender's previous mail is committed."""
        if not self.waited:
            self.ack.get()
            self.waited = True

    def _deliver(self, job: Job, message: bytes) -> Result:
        run = self.run_
        if run.halt.is_set() or not run.throttle.wait(run.halt):
            return NOT_SENT
        if not self.connection.is_open:
            try:
                self.connection.open()
            except ConnectionLost as exc:
                return Result(Outcome.UNAVAILABLE, None, str(exc))
        recipient = job.recipient
        try:
            # The mail goes over the wire while the previous one is being recorded; the
            # final dot (the server taking it) waits until that record is committed.
            self.connection.send(job.envelope_from, [ascii_address(recipient.email)], message,
                                 str(recipient.delivery_id), self._wait_until_recorded)
        except Deferred as exc:
            return Result(Outcome.DEFERRED, exc.code, exc.text)
        except Refused as exc:
            return Result(Outcome.REFUSED, exc.code, exc.text)
        except ConnectionLost as exc:
            return Result(Outcome.LOST, None, str(exc))
        return TAKEN


class _Clock:
    """When a run last checked its status, renewed its leases and logged progress."""

    def __init__(self, now: float, renew_seconds: float) -> None:
        self.started = now
        self.renew_seconds = renew_seconds
        self.last = {"status": now, "renew": now, "progress": now}

    def _due(self, what: str, seconds: float, now: float) -> bool:
        if now - self.last[what] < seconds:
            return False
        self.last[what] = now
        return True

    def status_due(self, now: float) -> bool:
        return self._due("status", STATUS_CHECK_SECONDS, now)

    def renew_due(self, now: float) -> bool:
        return self._due("renew", self.renew_seconds, now)

    def progress_due(self, now: float) -> bool:
        return self._due("progress", PROGRESS_SECONDS, now)


class CampaignRun:
    """Sends one campaign until nothing is due, it is paused/cancelled, or stop is asked."""

    def __init__(self, campaign_id: int, me: str) -> None:
        config = current_app.config
        self.campaign_id, self.me = campaign_id, me
        self.connections = max(int(config["SEND_CONNECTIONS"]), 1)
        self.batch_size = max(int(config["SEND_BATCH_SIZE"]), 1)
        self.threshold = int(config["FAILURE_PAUSE_THRESHOLD"] or 0)
        self.lease_seconds = float(config["SEND_LEASE_SECONDS"])
        self.throttle = Throttle(db.engine, config["SEND_RATE_PER_SECOND"],
                                 config["SEND_RATE_PER_HOUR"])
        self.postgres = db.engine.dialect.name == "postgresql"
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[tuple[Sender, Job, Result]] = queue.SimpleQueue()
        self.halt = threading.Event()  # set: senders send nothing more
        self.claimed: dict[int, Job] = {}  # leased to this run, outcome not yet written
        self.failures_in_row = 0
        self.sent = 0
        self.exhausted = False  # nothing more is due right now
        self.claim_after = 0  # claims go on from the highest id claimed so far
        self.low_water = max(2 * self.connections, self.batch_size // 2)
        self.need_more = threading.Event()
        self.claimer: threading.Thread | None = None
        self.interrupted = False  # paused, cancelled, stopped or server away

    # The calling thread: claims, outcomes, status.

    def run(self) -> int:
        """Send what is due now; returns how many mails the server took."""
        if not self._prepare():
            return 0
        started = time.monotonic()
        self._start_threads()
        try:
            self._loop()
        finally:
            self._tear_down()
        self._log_run(time.monotonic() - started)
        if self.exhausted and not self.interrupted:
            services.finish_if_done(self.campaign_id)
            db.session.commit()
        return self.sent

    def _prepare(self) -> bool:
        """Compile the campaign once; False (and the campaign paused) if it cannot be."""
        campaign = db.session.get(services.Campaign, self.campaign_id)
        try:
            self.builders = builders_by_language(campaign)
        except Exception as exc:  # e.g. a template gone since it was saved
            log.exception("campaign %s cannot be rendered", self.campaign_id)
            services.pause_unrenderable(campaign, exc)
            db.session.commit()
            return False
        urls = next(iter(self.builders.values())).compiled.links
        store_links(self.campaign_id, urls)
        self.links = Links(self.campaign_id, len(urls))
        self.domain = bounce_domain()
        db.session.commit()
        return True

    def _start_threads(self) -> None:
        """The sent log, one sender per connection and (PostgreSQL) the claimer."""
        self.sent_log = services.SentLog(self.campaign_id)
        self.senders = [Sender(self, number) for number in range(self.connections)]
        for sender in self.senders:
            sender.start()
        if self.postgres:  # SQLite has one writer: a second one would only queue up
            self.claimer = threading.Thread(
                target=self._claim_ahead, args=(current_app._get_current_object(),),
                name=f"claimer-{self.campaign_id}", daemon=True)
            self.claimer.start()

    def _tear_down(self) -> None:
        try:
            self._shut_down(self.senders)
        finally:
            self.sent_log.close()

    def _log_run(self, elapsed: float) -> None:
        if self.sent:
            log.info("campaign %s: run ended, %s mails in %.1f s (%.0f mails/s)",
                     self.campaign_id, self.sent, elapsed, self.sent / max(elapsed, 0.001))

    def _loop(self) -> None:
        """Tick until the run is done."""
        clock = _Clock(time.monotonic(), self.lease_seconds / 3)
        while self._tick(clock):
            pass

    def _tick(self, clock: "_Clock") -> bool:
        """Feed the senders, write their outcomes, keep house; False once done."""
        now = time.monotonic()
        if not self.halt.is_set():
            self._feed(clock.status_due(now))
        if self.halt.is_set():
            self._take_back_queued()
        if self._done():
            return False
        self._collect(timeout=0.2)
        self._housekeeping(now, clock)
        return True

    def _feed(self, check_status: bool) -> None:
        """Stop on a status change or stop request; otherwise keep the job queue filled."""
        if check_status:
            self._check_status()
        if _stopping.is_set():
            self._stop_feeding("stop requested")
        elif self.jobs.qsize() < self.low_water and not self.exhausted:
            self._ask_for_more()

    def _done(self) -> bool:
        """Nothing claimed is left to write and nothing more will be claimed, or every
        sender has died."""
        if not any(sender.is_alive() for sender in self.senders):
            return True
        claiming = self.claimer is not None and self.claimer.is_alive()
        return not self.claimed and (self.halt.is_set() or self.exhausted) and not claiming

    def _housekeeping(self, now: float, clock: "_Clock") -> None:
        """Renew this run's leases and log progress, each at its own interval."""
        if clock.renew_due(now):
            services.renew_leases(list(self.claimed), self.me)
            db.session.commit()
        if clock.progress_due(now):
            self._log_progress(now - clock.started)

    def _ask_for_more(self) -> None:
        """Claim the next batch: here, or (PostgreSQL) by the claimer thread meanwhile."""
        if self.claimer is None:
            self._claim()
        else:
            self.need_more.set()

    def _claim_ahead(self, app) -> None:
        """The claimer thread: keeps the job queue filled while the senders work, so a
        claim (a few milliseconds on PostgreSQL) never holds up a group commit."""
        with app.app_context():
            try:
                while not self.halt.is_set() and not self.exhausted:
                    if self.jobs.qsize() >= self.low_water:
                        self.need_more.wait(0.05)
                        self.need_more.clear()
                        continue
                    self._claim()
            except Exception:
                log.exception("campaign %s: claiming failed", self.campaign_id)
                self._stop_feeding("claiming failed")
            finally:
                db.session.remove()

    def _check_status(self) -> None:
        status = services.campaign_status(self.campaign_id)
        db.session.commit()
        if status != CampaignStatus.SENDING:
            self._stop_feeding(f"status is now {status}")

    def _stop_feeding(self, reason: str) -> None:
        if not self.halt.is_set():
            log.info("campaign %s: stopping the run (%s)", self.campaign_id, reason)
            self.interrupted = True
            self.halt.set()

    def _claim(self) -> None:
        batch, last_id = services.claim_batch(self.campaign_id, self.batch_size, self.me,
                                              self.claim_after)
        if not last_id and self.claim_after:  # from the start again: retries due below
            self.claim_after = 0
            batch, last_id = services.claim_batch(self.campaign_id, self.batch_size, self.me)
        db.session.commit()
        if not last_id:
            self.exhausted = True
            return
        self.claim_after = last_id
        for recipient in batch:
            job = Job(recipient, verp_address(recipient.delivery_id, self.domain))
            self.claimed[recipient.delivery_id] = job
            self.jobs.put(job)

    def _take_back_queued(self) -> None:
        """Jobs no sender has taken yet go back to the database unsent."""
        ids = []
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                ids.append(job.recipient.delivery_id)
                self.claimed.pop(job.recipient.delivery_id, None)
        if ids:
            services.release(ids, self.me)
            db.session.commit()

    def _collect(self, timeout: float) -> None:
        """Write every outcome that is there (one transaction), then let the senders on."""
        try:
            items = [self.results.get(timeout=timeout)]
        except queue.Empty:
            return
        # Gather the other connections' outcomes for a moment: one commit for several
        # mails costs less than one each, and a sender waiting here costs no CPU.
        deadline = time.monotonic() + GROUP_WAIT_SECONDS
        while len(items) < self.connections:
            try:
                items.append(self.results.get(timeout=max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                break
        if all(result is TAKEN for _sender, _job, result in items):
            ids = [job.recipient.delivery_id for _sender, job, _result in items]
            self.sent_log.write(ids)  # committed: the senders may send their next mail
            self._after_sent(ids)
        else:
            self._write_mixed(items)
        for sender, _job, _result in items:
            sender.ack.put(None)

    def _after_sent(self, ids: list[int]) -> None:
        for delivery_id in ids:
            self.claimed.pop(delivery_id, None)
        self.sent += len(ids)
        self.failures_in_row = 0
        _ServerState.up()

    def _write_mixed(self, items: list[tuple[Sender, Job, Result]]) -> None:
        """Outcomes with failures among them: the mails taken first, through the sent log
        (its own short transaction, before the session writes), then the failures."""
        sent_ids = [job.recipient.delivery_id for _sender, job, result in items
                    if result.outcome == Outcome.SENT]
        if sent_ids:
            self.sent_log.write(sent_ids)
            self._after_sent(sent_ids)
        if self.postgres:  # losing the last commits in a database crash only repeats mails
            db.session.execute(text("SET LOCAL synchronous_commit = off"))
        for _sender, job, result in items:
            if result.outcome != Outcome.SENT:
                self.claimed.pop(job.recipient.delivery_id, None)
                self._apply_failure(job.recipient, result)
        db.session.commit()

    def _apply_failure(self, recipient: Recipient, result: Result) -> None:
        """Write a delivery that did not go out; pause after too many in a row."""
        if result.outcome in (Outcome.RELEASED, Outcome.UNAVAILABLE):
            services.release([recipient.delivery_id], self.me)  # not tried: no failure
            if result.outcome == Outcome.UNAVAILABLE:
                self._server_unreachable(result.text)
            return
        services.record_failure(self.campaign_id, recipient, result)
        self.failures_in_row += 1
        if self.threshold and self.failures_in_row >= self.threshold and not self.halt.is_set():
            services.pause_for_failures(self.campaign_id, self.failures_in_row, result.summary)
            self._stop_feeding("too many failures in a row")

    def _server_unreachable(self, error: str) -> None:
        """Stop this run; the next poll waits for the server's back-off."""
        if not self.halt.is_set():
            log.warning("campaign %s: SMTP server unreachable (%s); trying again later",
                        self.campaign_id, error)
            _ServerState.down()
            self._stop_feeding("SMTP server unreachable")

    def _log_progress(self, elapsed: float) -> None:
        line = services.progress_line(self.campaign_id)
        db.session.commit()
        log.info("campaign %s: %s, %.0f mails/s in this run", self.campaign_id, line,
                 self.sent / max(elapsed, 0.001))

    def _shut_down(self, senders: list[Sender]) -> None:
        """Stop the senders after the mails in flight; give back what was not sent."""
        self.halt.set()
        try:
            if self.claimer is not None:
                self.claimer.join(timeout=60)
            self._take_back_queued()
            for _ in senders:
                self.jobs.put(None)
            while self.claimed and any(sender.is_alive() for sender in senders):
                self._collect(timeout=0.2)
        finally:
            for sender in senders:
                sender.ack.put(None)
                sender.join(timeout=60)
            if self.claimed:  # outcome unknown (an error above): the lease will expire
                log.warning("campaign %s: %s claims left to expire", self.campaign_id,
                            len(self.claimed))

    # The sender threads: building a mail needs no database.

    def build(self, recipient: Recipient) -> bytes:
        """The finished bytes of one recipient's mail."""
        to = ascii_address(recipient.email)
        if recipient.name:
            to = formataddr((recipient.name, to), charset="utf-8")
        builder = self.builders.get(recipient.language) or self.builders["de"]
        message_id = builder.message_id(f"{self.campaign_id}.{recipient.delivery_id}")
        return builder.build(self.links.fields(recipient), to, message_id)
