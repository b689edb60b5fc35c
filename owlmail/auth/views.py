"""Login (with two-factor step), logout, password reset, the editor's own account (password,
two-factor login, API tokens), and the admins' list of editors."""

import time
from datetime import datetime
from datetime import time as day_time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..audit.models import AuditAction
from ..audit.services import editor_target, record, token_target
from ..extensions import db, limiter
from ..forms import ButtonForm
from ..timeutil import to_utc_naive, utcnow
from ..tokens import TokenError
from ..transactions import writes
from . import emails, services, sessions, twofactor
from .decorators import admin_required, editor_required
from .forms import (
    CodeForm,
    EditorForm,
    LoginForm,
    PasswordForm,
    ResetForm,
    ResetRequestForm,
    TokenForm,
)
from .models import ApiToken, Editor, Role

bp = Blueprint("auth", __name__, url_prefix="/admin")

PENDING = "owlmail.two_factor"  # session key: the editor who gave the password, awaiting a code


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _code_limit() -> str:
    return current_app.config["TWO_FACTOR_RATE_LIMIT"]


def _code_account_key() -> str:
    """Codes are counted per account, whichever addresses they come from."""
    pending = session.get(PENDING) or {}
    return f"two-factor:{pending.get('id', request.remote_addr)}"


def _not_a_code() -> bool:
    return "code" not in request.form


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site; None for anything that could leave it."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(not ch.isprintable() or ch.isspace() or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


# --- logging in ------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_code_limit, key_func=_code_account_key, methods=["POST"],
               exempt_when=_not_a_code)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("admin.dashboard"))
    if request.method == "POST" and not _not_a_code():
        return _code_step()
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_template("auth/login.html", form=form)
    if not form.validate():
        return render_template("auth/login.html", form=form), 400
    editor = services.authenticate(form.email.data, form.password.data)
    if editor is None:
        return _login_failed(form)
    if editor.two_factor:
        return _ask_for_code(editor, form.next.data)
    return _logged_in(editor, form.next.data)


def _login_failed(form: LoginForm):
    """401 without saying which part was wrong; the attempt goes into the audit log."""
    db.session.rollback()
    known = services.editor_by_email(form.email.data)
    record(None, AuditAction.LOGIN_FAILED,
           editor_target(known) if known else "unknown address")
    db.session.commit()
    form.form_errors.append(_("E-Mail-Adresse oder Passwort ist falsch."))
    form.password.data = ""
    return render_template("auth/login.html", form=form), 401


def _ask_for_code(editor: Editor, next_url: str | None):
    """The password was right: remember that for a few minutes and ask for the code."""
    db.session.commit()  # a rehashed password is kept
    session[PENDING] = {"id": editor.id, "at": int(time.time()), "next": next_url or ""}
    return render_template("auth/login_code.html", form=CodeForm())


def _pending_editor() -> Editor | None:
    """The editor who gave the right password in the last few minutes, or None."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("id"), int):
        return None
    if time.time() - pending.get("at", 0) > current_app.config["TWO_FACTOR_STEP_SECONDS"]:
        return None
    editor = db.session.get(Editor, pending["id"])
    return editor if editor and editor.active and editor.two_factor else None


def _code_step():
    """Second step: a current code or a recovery code finishes the login."""
    editor = _pending_editor()
    if editor is None:
        session.pop(PENDING, None)
        flash(_("Bitte melden Sie sich noch einmal mit Ihrem Passwort an."), "error")
        return render_template("auth/login.html", form=LoginForm()), 400
    form = CodeForm()
    if not form.validate():
        return render_template("auth/login_code.html", form=form), 400
    if not twofactor.verify(editor, form.code.data):
        db.session.rollback()
        record(None, AuditAction.LOGIN_FAILED, editor_target(editor) + " (code)")
        db.session.commit()
        form.code.errors = [_("Der Code stimmt nicht oder wurde schon verwendet.")]
        return render_template("auth/login_code.html", form=form), 401
    return _logged_in(editor, session[PENDING].get("next"))


def _logged_in(editor: Editor, next_url: str | None):
    """A fresh session (and CSRF token) for the editor: no session fixation."""
    target = safe_next(next_url) or url_for("admin.dashboard")
    session.clear()
    sessions.start(editor)
    login_user(editor)
    editor.last_login_at = utcnow()
    record(editor, AuditAction.LOGIN, editor_target(editor))
    db.session.commit()
    return redirect(target, code=303)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        sessions.end_current()  # a copy of this cookie opens nothing from now on
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("Sie haben sich abgemeldet."), "success")
    return redirect(url_for(".login"), code=303)


# --- password reset by mail --------------------------------------------------

def _reset_limit() -> str:
    return current_app.config["RESET_RATE_LIMIT"]


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def reset_request():
    form = ResetRequestForm()
    if request.method == "GET":
        return render_template("auth/reset_request.html", form=form)
    if not form.validate():
        return render_template("auth/reset_request.html", form=form), 400
    editor = services.editor_by_email(form.email.data)
    if editor is not None and editor.active:
        emails.queue_reset_mail(editor)
        record(None, AuditAction.PASSWORD_RESET_SENT, editor_target(editor))
        db.session.commit()
    # The same page for every address: nobody learns here who has an account.
    return render_template("auth/reset_sent.html")


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def reset_password(token: str):
    try:
        editor = services.editor_for_reset(token)
    except TokenError as exc:
        return render_template("auth/reset_problem.html", reason=exc.reason), 400
    form = ResetForm()
    if request.method == "GET" or not form.validate():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/reset_password.html", form=form, token=token), status
    services.set_password(editor, form.new_password.data)
    sessions.end_all(editor)
    record(editor, AuditAction.PASSWORD_RESET, editor_target(editor))
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("Ihr neues Passwort gilt. Bitte melden Sie sich damit an; alle bisherigen "
            "Anmeldungen sind beendet."), "success")
    return redirect(url_for(".login"), code=303)


# --- the editor's own account ------------------------------------------------

def _account_page(status: int = 200, **context):
    context.setdefault("form", PasswordForm(formdata=None))
    context.setdefault("token_form", TokenForm(formdata=None))
    context.setdefault("recovery_form", CodeForm(formdata=None, prefix="recovery"))
    return render_template(
        "auth/account.html", tokens=services.tokens_of(current_user), button=ButtonForm(),
        codes_left=twofactor.recovery_codes_left(current_user), now=utcnow(),
        open_sessions=sessions.open_sessions(current_user),
        this_session=sessions.current_session_id(), **context,
    ), status


@bp.get("/account")
@editor_required
def account():
    return _account_page()


@bp.post("/account/sessions/<int:session_id>/end")
@editor_required
def end_session(session_id: int):
    """End one of the editor's own sessions (another browser, or this one)."""
    if not ButtonForm().validate():
        abort(400)
    this_one = session_id == sessions.current_session_id()
    if not sessions.end_one(current_user, session_id):
        abort(404)
    record(current_user, AuditAction.SESSION_ENDED, editor_target(current_user))
    db.session.commit()
    if this_one:
        logout_user()
        return redirect(url_for(".login"), code=303)
    flash(_("Die Anmeldung ist beendet."), "success")
    return redirect(url_for(".account"), code=303)


@bp.post("/account")
@editor_required
def change_password():
    form = PasswordForm()
    if not form.validate():
        return _account_page(400, form=form)
    try:
        services.change_password(current_user, form.old_password.data, form.new_password.data)
    except services.AccountError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _account_page(400, form=form)
    sessions.end_all(current_user)  # every other browser, and any copy of this cookie
    sessions.start(current_user)
    record(current_user, AuditAction.PASSWORD_CHANGED, editor_target(current_user))
    db.session.commit()
    flash(_("Ihr Passwort wurde geändert. Alle anderen Anmeldungen sind beendet."), "success")
    return redirect(url_for(".account"), code=303)


@bp.route("/account/two-factor", methods=["GET", "POST"])
@editor_required
@writes  # the GET stores the secret that awaits its first code
def two_factor():
    if current_user.two_factor:
        return redirect(url_for(".account"))
    secret = twofactor.begin(current_user)
    form = CodeForm()
    if request.method == "POST" and form.validate():
        try:
            codes = twofactor.confirm(current_user, form.code.data)
        except twofactor.TwoFactorError:
            form.code.errors = [_("Der Code stimmt nicht. Bitte geben Sie den aktuellen Code "
                                  "aus Ihrer App ein.")]
        else:
            record(current_user, AuditAction.TWO_FACTOR_ON, editor_target(current_user))
            db.session.commit()
            return render_template("auth/recovery_codes.html", codes=codes)
    db.session.commit()  # the secret awaiting its first code
    uri = twofactor.provisioning_uri(current_user, secret)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/two_factor.html", form=form, secret=secret,
                           qr=twofactor.qr_svg(uri, _("QR-Code für Ihre Authenticator-App"))
                           ), status


@bp.post("/account/recovery-codes")
@editor_required
def new_recovery_codes():
    """Ten new recovery codes replace the old ones; a current code proves the phone."""
    form = CodeForm(prefix="recovery")
    if not current_user.two_factor:
        abort(404)
    if not form.validate() or not twofactor.verify(current_user, form.code.data):
        db.session.rollback()
        form.code.errors = [_("Der Code stimmt nicht oder wurde schon verwendet.")]
        return _account_page(400, recovery_form=form)
    codes = twofactor.new_recovery_codes(current_user)
    record(current_user, AuditAction.RECOVERY_CODES, editor_target(current_user))
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.post("/account/tokens")
@editor_required
def create_token():
    form = TokenForm()
    if not form.validate():
        return _account_page(400, token_form=form)
    expires_at = _end_of_day(form.expires_on.data)
    if expires_at is not None and expires_at <= utcnow():
        form.expires_on.errors = [_("Das Datum muss in der Zukunft liegen.")]
        return _account_page(400, token_form=form)
    token, row = services.new_api_token(current_user, form.name.data, expires_at)
    record(current_user, AuditAction.TOKEN_CREATED, token_target(row))
    db.session.commit()
    return _account_page(201, new_token=token)


def _end_of_day(day) -> datetime | None:
    """A date as the end of that day in Berlin, as naive UTC (None stays None)."""
    return to_utc_naive(datetime.combine(day, day_time(23, 59, 59))) if day else None


@bp.post("/account/tokens/<int:token_id>/revoke")
@editor_required
def revoke_token(token_id: int):
    if not ButtonForm().validate():
        abort(400)
    token = db.session.get(ApiToken, token_id) if token_id < 2**31 else None
    if token is None or token.editor_id != current_user.id:
        abort(404)
    services.revoke_token(token)
    record(current_user, AuditAction.TOKEN_REVOKED, token_target(token))
    db.session.commit()
    flash(_("Das Token „%(name)s“ wurde widerrufen.", name=token.name), "success")
    return redirect(url_for(".account"), code=303)


# --- editors (admins) --------------------------------------------------------

@bp.route("/editors", methods=["GET", "POST"])
@admin_required
def editors():
    form = EditorForm()
    if request.method == "POST" and form.validate():
        try:
            editor = services.create_editor(form.email.data, form.password.data,
                                            Role(form.role.data), form.name.data or "")
        except services.AccountError as exc:
            db.session.rollback()
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            record(current_user, AuditAction.EDITOR_CREATED, editor_target(editor))
            db.session.commit()
            flash(_("Das Konto für %(email)s wurde angelegt.", email=form.email.data.lower()),
                  "success")
            return redirect(url_for(".editors"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/editors.html", form=form, editors=services.list_editors(),
                           button=ButtonForm()), status


def _editor_or_404(editor_id: int) -> Editor:
    return (db.session.get(Editor, editor_id) if editor_id < 2**31 else None) or abort(404)


@bp.post("/editors/<int:editor_id>/active")
@admin_required
def set_active(editor_id: int):
    editor = _editor_or_404(editor_id)
    active = request.form.get("active") == "1"
    try:
        services.set_active(editor, active, by=current_user)
    except services.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".editors"), code=303)
    action = AuditAction.EDITOR_REACTIVATED if active else AuditAction.EDITOR_DEACTIVATED
    record(current_user, action, editor_target(editor))
    db.session.commit()
    message = _("%(email)s ist wieder aktiv.") if active else _("%(email)s wurde deaktiviert.")
    flash(message % {"email": editor.email}, "success")
    return redirect(url_for(".editors"), code=303)


@bp.post("/editors/<int:editor_id>/two-factor/reset")
@admin_required
def reset_two_factor(editor_id: int):
    editor = _editor_or_404(editor_id)
    if not ButtonForm().validate():
        abort(400)
    twofactor.reset(editor)
    record(current_user, AuditAction.TWO_FACTOR_OFF, editor_target(editor))
    db.session.commit()
    flash(_("Die Zwei-Faktor-Anmeldung von %(email)s ist zurückgesetzt; beim nächsten "
            "Anmelden richtet die Person sie neu ein.", email=editor.email), "success")
    return redirect(url_for(".editors"), code=303)
