"""Default settings. Overridden by instance/config.py, then by OWLMAIL_* variables."""

from datetime import timedelta


class Defaults:
    """The defaults every deployment starts from (see INTERFACE.md)."""

    SQLALCHEMY_DATABASE_URI = None  # filled in by the factory: SQLite file in instance/
    SECRET_KEY = None  # filled in by the factory: generated once, kept in instance/
    SECRET_KEY_FALLBACKS: list[str] = []  # older keys still accepted for tokens
    # Keys the suppression list's address hashes (HMAC); kept apart from SECRET_KEY so
    # rotating that does not forget who must never be mailed again. Generated once.
    SUPPRESSION_KEY = None
    BASE_URL = "http://127.0.0.1:5000"  # https: cookies are Secure (owlmail/security.py)
    TRUSTED_PROXY_COUNT = 0  # reverse proxies in front, each adding X-Forwarded-* (1 behind nginx)
    HSTS_MAX_AGE = 365 * 24 * 3600  # Strict-Transport-Security, sent on https answers only

    # SMTP settings (owlmail.mail.transport). TLS is always verified; SSL_CERT_FILE (an
    # environment variable) names a private CA. MAIL_TIMEOUT bounds the connect and each reply.
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "OWL morgen <newsletter@owl-morgen.de>"
    MAIL_TIMEOUT = 30
    # Development only (`make run` sets it): mail goes to files shown at /dev/outbox, never
    # to SMTP. Without it and without MAIL_SERVER a worker refuses to start.
    DEV_OUTBOX = False
    CONTACT_RECIPIENT = "info@owl-morgen.de"
    LIST_ID = "OWL morgen Newsletter <newsletter.owl-morgen.de>"

    # Deliverability: DKIM signing of every outgoing mail when all three are set.
    DKIM_DOMAIN = None
    DKIM_SELECTOR = None
    DKIM_PRIVATE_KEY_FILE = None
    FEEDBACK_ID_SENDER = "owlmail"  # last part of Feedback-ID (Gmail's feedback loop)
    CSA_COMPLAINTS = False  # members of the Certified Senders Alliance: X-CSA-Complaints
    SPF_INCLUDE = None  # the relay's SPF domain, e.g. spf.relay.example (deliverability page)
    DNS_NAMESERVERS = None  # ["host" or "host:port"] for the DNS check; None: the system's
    SOFT_BOUNCE_LIMIT = 3  # soft bounces from this many campaigns mark a subscriber bounced

    # Scheduler and sender: in the web process only under `make run`.
    SCHEDULER_ENABLED = False
    OUTBOX_POLL_SECONDS = 1.0
    OUTBOX_BATCH_SIZE = 50
    OUTBOX_MAX_AGE_HOURS = 72  # give up on a transactional mail after this long
    # A failed mail's bytes, address and subject are kept this long for a look at what went
    # wrong, then dropped (a sent mail's at once); kind, times, outcome and hashes remain.
    OUTBOX_FAILED_RETENTION_DAYS = 7

    # Public forms.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = False  # X-RateLimit-* cost a store query per request; a 429
    # still says Retry-After (public/errors.py)
    SUBSCRIBE_RATE_LIMIT = "10/minute;60/hour"
    SUBSCRIBE_ADDRESS_RATE_LIMIT = "3/hour;6/day"
    CONTACT_RATE_LIMIT = "5/minute;30/hour"
    LOGIN_RATE_LIMIT = "10/minute;50/hour"
    FORM_MIN_SECONDS = 2
    TWO_FACTOR_RATE_LIMIT = "5/minute;30/hour"  # codes tried per account (after the password)
    RESET_RATE_LIMIT = "5/minute;20/hour"  # reset mails asked for, per IP
    FORM_MAX_AGE_SECONDS = 24 * 3600
    EMBED_ORIGINS: list[str] = []  # sites whose pages may post the embedded sign-up form
    MAX_CONTENT_LENGTH = 1024 * 1024  # 1 MiB request bodies

    # Subscriptions and proof of consent.
    TOPIC_CACHE_SECONDS = 10  # topic choices on public forms; edits show after this
    CONFIRM_TOKEN_MAX_AGE = int(timedelta(days=7).total_seconds())
    PENDING_PURGE_DAYS = 14
    CONSENT_IP_MODE = "store"  # store | truncate | omit

    # Contact form.
    CONTACT_RETENTION_DAYS = 180
    CONTACT_MESSAGE_MAX_LENGTH = 5000

    # Campaigns and the delivery engine.
    CAMPAIGN_POLL_SECONDS = 2.0
    CAMPAIGN_BODY_MAX_LENGTH = 100_000  # characters of Markdown
    CAMPAIGN_RENDER_MAX_SECONDS = 1.0  # CPU seconds; a body that renders slower is refused
    ARCHIVE_CACHE_SECONDS = 300  # how long browsers and proxies may keep archive pages
    SEND_CONNECTIONS = 4  # persistent SMTP connections in parallel
    SEND_BATCH_SIZE = 200  # deliveries claimed per batch
    SEND_RATE_PER_SECOND = None  # optional relay limits
    SEND_RATE_PER_HOUR = None
    BOUNCE_DOMAIN = None  # VERP envelope bounce+<signed id>@<domain>; None: sender's domain
    FAILURE_PAUSE_THRESHOLD = 50  # consecutive failures that pause a campaign
    SEND_RETRY_SECONDS = [60, 300, 900, 1800, 3600, 7200]  # back-off after the n-th 4xx
    SEND_MAX_ATTEMPTS = 8  # then a delivery that only got 4xx answers is failed
    SEND_LEASE_SECONDS = 120  # how long a claimed batch belongs to one worker
    # Clicks and opens are counted in memory and written in batches: every this many
    # seconds (0: only when asked, e.g. in tests), or sooner once this many are waiting.
    CLICK_FLUSH_SECONDS = 1.0
    CLICK_FLUSH_SIZE = 500

    # Operator data for imprint, privacy page and mail footers.
    OPERATOR_NAME = "OstWestfalenLippe GmbH"
    OPERATOR_ADDRESS = "Turnerstraße 5–9, 33602 Bielefeld"
    OPERATOR_EMAIL = "info@owl-morgen.de"
    OPERATOR_PHONE = "+49 521 96733-0"
    OPERATOR_REPRESENTATIVE = None  # a name; None: "die Geschäftsführung", translated
    OPERATOR_REGISTER = "Amtsgericht Bielefeld"
    PRIVACY_CONTACT = "datenschutz@owl-morgen.de"

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    LANGUAGES = ["de", "en"]

    WTF_CSRF_TIME_LIMIT = None  # valid as long as the session: long forms must not expire
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_IDLE_HOURS = 8  # an editor's session unused this long has ended

    # Editors' accounts.
    REQUIRE_TWO_FACTOR = False  # true: every editor must turn on two-factor login
    TWO_FACTOR_STEP_SECONDS = 300  # time between password and code on the login page
    PASSWORD_RESET_MAX_AGE = 30 * 60  # a reset link works for 30 minutes, once
    AUDIT_RETENTION_DAYS = 2 * 365
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
