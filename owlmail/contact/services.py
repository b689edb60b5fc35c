"""Contact messages: store, mail to CONTACT_RECIPIENT, expire."""


def purge_expired_messages() -> int:
    """Scheduled: delete contact messages older than the retention period."""
    return 0
