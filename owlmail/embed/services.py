"""Which pages may post the embedded form, and what of their address is kept.

A form on another site cannot carry our CSRF token, so a sign-up is taken only when the
browser says it comes from a page in EMBED_ORIGINS: its Origin header, or (when a browser
sends none) its Referer. Origin "null" (sandboxed frames, privacy modes) is refused."""

from urllib.parse import urlsplit

from flask import current_app, request

SOURCE_MAX_LENGTH = 500


def origin_of(url: str | None) -> str | None:
    """scheme://host[:port] of an http(s) address in lower case; None for anything else."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins() -> set[str]:
    """EMBED_ORIGINS as origins (a trailing slash or path in the setting is forgiven)."""
    return {origin for origin in map(origin_of, current_app.config["EMBED_ORIGINS"]) if origin}


def is_allowed(url: str | None) -> bool:
    """True when the address lies on one of the embedding sites."""
    return origin_of(url) in allowed_origins()


def request_origin() -> str | None:
    """The origin the browser names for this request: Origin, else Referer's origin."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin_of(origin)  # "null" gives None
    return origin_of(request.referrer)


def permitted_origin() -> str | None:
    """The request's origin when it is one of EMBED_ORIGINS, else None (refuse with 403)."""
    origin = request_origin()
    return origin if origin in allowed_origins() else None


def source_page(origin: str, stated: str | None) -> str:
    """The embedding page's address for the consent log: the one the snippet states when
    it lies on the posting origin, else the Referer when it does, else the origin.

    Browsers send only the origin as Referer to other sites by default, so the snippet
    carries its page's address when the editor gave it."""
    for url in (stated, request.referrer):
        if url and origin_of(url) == origin and len(url) <= SOURCE_MAX_LENGTH:
            return url
    return origin


def back_url(url: str | None) -> str | None:
    """A link back to the host page, only to the embedding sites (no open redirect)."""
    return url if url and len(url) <= SOURCE_MAX_LENGTH and is_allowed(url) else None


def plausible_page(url: str | None) -> str | None:
    """An http(s) page address an editor gave for the snippet, else None."""
    if url and len(url) <= SOURCE_MAX_LENGTH and origin_of(url) and url.isprintable():
        return url.strip()
    return None
