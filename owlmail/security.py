"""Behind a TLS proxy: the visitor's own address and scheme, secure cookies, and the
security headers every answer carries (pages, API JSON, errors, static files, redirects)."""

from flask import Flask, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

# The pages load their own CSS and scripts only: no inline script or style anywhere.
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# A mail's HTML is shown in a sandboxed srcdoc iframe (campaign editor preview, archive
# copy, dev outbox). Such a document inherits the page's policy, and a policy of its own
# could only tighten it; the mail needs its <style> block (media queries) and the CSS
# inlined into style attributes, and editors link images from other sites. So these
# answers, and only these, allow inline styles and https images. Scripts stay 'self':
# the frames are sandboxed without allow-scripts, and the page's own scripts are files.
MAIL_FRAME_POLICY = {**POLICY, "style-src": "'self' 'unsafe-inline'",
                     "img-src": "'self' data: https:"}
# A token in the URL (confirm, unsubscribe, preferences, password reset, click link) is
# a key: it must not travel to another site, nor back to this one, in a Referer.
LINK_KEY_REFERRER_POLICY = "no-referrer"
# Elsewhere only our own pages see where a visitor came from (the consent log keeps the
# sign-up form's URL as its source).
REFERRER_POLICY = "same-origin"


def configure_security(app: Flask) -> None:
    """ProxyFix for TRUSTED_PROXY_COUNT, secure cookies over https, headers on answers."""
    trust_proxies(app)
    secure_cookies(app)
    app.after_request(add_security_headers)


def trust_proxies(app: Flask) -> None:
    """Believe exactly the X-Forwarded-For/-Proto/-Host entries our own proxies added.

    ProxyFix reads the header lists from the right, so an entry a client forged in front
    of them is never taken. With no trusted proxy the headers are ignored."""
    count = int(app.config["TRUSTED_PROXY_COUNT"] or 0)
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def serves_https(app: Flask) -> bool:
    """The public origin (BASE_URL) is https: every cookie travels over TLS only."""
    return app.config["BASE_URL"].lower().startswith("https://")


def secure_cookies(app: Flask) -> None:
    """Secure session cookie over https, named __Host- when it covers the whole host."""
    if not serves_https(app):
        return
    app.config["SESSION_COOKIE_SECURE"] = True
    app.config["REMEMBER_COOKIE_SECURE"] = True
    whole_host = not app.config.get("SESSION_COOKIE_DOMAIN") and (
        app.config.get("SESSION_COOKIE_PATH") or app.config["APPLICATION_ROOT"]) == "/"
    if whole_host and app.config["SESSION_COOKIE_NAME"] == "session":
        # The browser then refuses the cookie from any subdomain or plain-http answer.
        app.config["SESSION_COOKIE_NAME"] = "__Host-session"


def frame_mail_html() -> None:
    """This answer shows a mail's HTML in a srcdoc frame: use MAIL_FRAME_POLICY."""
    g.content_security_policy = MAIL_FRAME_POLICY


def content_security_policy() -> str:
    policy = g.get("content_security_policy", POLICY)
    return "; ".join(f"{name} {sources}" for name, sources in policy.items())


def referrer_policy() -> str:
    carries_token = "token" in (request.view_args or {})
    return LINK_KEY_REFERRER_POLICY if carries_token else REFERRER_POLICY


def add_security_headers(response):
    """Every answer: CSP with frame-ancestors, nosniff, Referrer-Policy, framing
    protection for older browsers, and HSTS when the visitor came over https."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", referrer_policy())
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security",
                           f"max-age={int(current_app.config['HSTS_MAX_AGE'])}; includeSubDomains")
    return response

