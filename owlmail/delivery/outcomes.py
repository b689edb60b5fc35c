"""What became of one delivery a sender thread tried: written by delivery.services."""

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What became of one claimed delivery in a sender thread."""

    SENT = "sent"  # the server took it
    DEFERRED = "deferred"  # 4xx: try again after a back-off
    REFUSED = "refused"  # 5xx: failed for good (a 5.1.x also suppresses the address)
    LOST = "lost"  # the connection dropped mid-mail: try again after a back-off
    RELEASED = "released"  # not sent: the run was halted first
    UNAVAILABLE = "unavailable"  # not sent: the server could not be reached
    BROKEN = "broken"  # the mail could not be built (a bug): failed


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    code: int | None = None  # the SMTP reply code, when there was one
    text: str = ""  # the server's answer or the error

    @property
    def summary(self) -> str:
        """The answer as one line for the log and the pause note."""
        return f"{self.code} {self.text}" if self.code else self.text
