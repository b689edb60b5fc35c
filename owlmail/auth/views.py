"""Login, logout, the editor's own account, and the admins' list of editors."""

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

from ..extensions import db, limiter
from ..forms import ButtonForm
from . import services
from .decorators import admin_required, editor_required
from .forms import EditorForm, LoginForm, PasswordForm
from .models import Editor, Role

bp = Blueprint("auth", __name__, url_prefix="/admin")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site; None for anything that could leave it."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(not ch.isprintable() or ch.isspace() or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("admin.dashboard"))
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_template("auth/login.html", form=form)
    if not form.validate():
        return render_template("auth/login.html", form=form), 400
    editor = services.authenticate(form.email.data, form.password.data)
    if editor is None:
        db.session.rollback()
        form.form_errors.append(_("E-Mail-Adresse oder Passwort ist falsch."))
        form.password.data = ""
        return render_template("auth/login.html", form=form), 401
    target = safe_next(form.next.data) or url_for("admin.dashboard")
    session.clear()  # a fresh session (and CSRF token) on login: no session fixation
    login_user(editor)
    db.session.commit()
    return redirect(target, code=303)


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash(_("Sie haben sich abgemeldet."), "success")
    return redirect(url_for(".login"), code=303)


@bp.route("/account", methods=["GET", "POST"])
@editor_required
def account():
    form = PasswordForm()
    if request.method == "POST" and form.validate():
        try:
            services.change_password(current_user, form.old_password.data,
                                     form.new_password.data)
        except services.AccountError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Ihr Passwort wurde geändert."), "success")
            return redirect(url_for(".account"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/account.html", form=form), status


@bp.route("/editors", methods=["GET", "POST"])
@admin_required
def editors():
    form = EditorForm()
    if request.method == "POST" and form.validate():
        try:
            services.create_editor(form.email.data, form.password.data, Role(form.role.data),
                                   form.name.data or "")
        except services.AccountError as exc:
            db.session.rollback()
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            db.session.commit()
            flash(_("Das Konto für %(email)s wurde angelegt.", email=form.email.data.lower()),
                  "success")
            return redirect(url_for(".editors"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/editors.html", form=form, editors=services.list_editors(),
                           button=ButtonForm()), status


@bp.post("/editors/<int:editor_id>/active")
@admin_required
def set_active(editor_id: int):
    editor = db.session.get(Editor, editor_id) or abort(404)
    active = request.form.get("active") == "1"
    try:
        services.set_active(editor, active, by=current_user)
    except services.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".editors"), code=303)
    db.session.commit()
    message = _("%(email)s ist wieder aktiv.") if active else _("%(email)s wurde deaktiviert.")
    flash(message % {"email": editor.email}, "success")
    return redirect(url_for(".editors"), code=303)
