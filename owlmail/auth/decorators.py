"""Access rules for admin pages: any editor, or admins only."""

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def editor_required(view):
    """Logged-in editors and admins."""
    return login_required(view)


def admin_required(view):
    """Admins only; editors get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
