"""The delivery engine: sends due campaigns to every recipient exactly once."""


def run_due_campaigns() -> int:
    """Scheduled: start due campaigns and send the next batches."""
    return 0
