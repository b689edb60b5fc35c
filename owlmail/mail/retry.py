"""The one retry policy: how long a mail (or a connection attempt) waits after failures."""

from collections.abc import Sequence
from datetime import timedelta


class Backoff:
    """Waits that grow with each failure and then stay at the last step.

    Backoff([5, 10, 20]).delay(1) is 5 seconds, .delay(2) 10, .delay(7) 20."""

    def __init__(self, steps: Sequence[float]) -> None:
        if not steps or any(step < 0 for step in steps):
            raise ValueError("a back-off needs at least one step, none negative")
        self.steps = tuple(steps)

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after `attempts` failures (1 = the first failure)."""
        return timedelta(seconds=self.seconds(attempts))

    def seconds(self, attempts: int) -> float:
        """The same wait in seconds, for monotonic clocks."""
        return self.steps[min(max(attempts, 1), len(self.steps)) - 1]


# Transactional mail: a temporary failure is retried within a minute (INTERFACE.md).
OUTBOX_BACKOFF = Backoff((5, 10, 20, 40, 60))
# After the SMTP server could not be reached, before the campaign engine tries again.
CONNECT_BACKOFF = Backoff((1, 2, 5, 10, 30, 60))
