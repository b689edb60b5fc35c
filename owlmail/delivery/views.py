"""The editor's test send: the campaign page's form posts here."""

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import audit
from ..auth.decorators import editor_required
from ..campaigns.errors import CampaignError
from ..campaigns.forms import TestSendForm, split_addresses
from ..campaigns.views import campaign_or_404, saved_page
from ..extensions import db, limiter
from .testsend import send_test

bp = Blueprint("delivery", __name__)


def _test_send_limit() -> str:
    """The same budget of test sends as the API gives a token."""
    return current_app.config.get("API_TEST_SEND_RATE_LIMIT", "20/hour")


def _editor_key() -> str:
    return f"editor:{current_user.get_id()}"


@bp.post("/admin/campaigns/<int:campaign_id>/test")
@editor_required
@limiter.limit(_test_send_limit, key_func=_editor_key)
def test_copy(campaign_id: int):
    """Send test copies of the saved campaign to the addresses given."""
    campaign = campaign_or_404(campaign_id)
    test_form = TestSendForm(prefix="test")
    if not test_form.validate():
        return saved_page(campaign, 422, test_form=test_form)
    try:
        sent_to = send_test(campaign, split_addresses(test_form.emails.data))
    except CampaignError as exc:
        db.session.rollback()
        test_form.emails.errors = [exc.message]
        return saved_page(campaign, exc.status, test_form=test_form)
    audit.record_campaign(current_user, audit.AuditAction.TEST_SENT, campaign)
    db.session.commit()
    flash(_("Der Testversand an %(to)s ist unterwegs.", to=", ".join(sent_to)), "success")
    return redirect(url_for("campaigns.edit_campaign", campaign_id=campaign.id), code=303)
