"""Time helpers: the database stores naive UTC, people see Europe/Berlin."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def utcnow() -> datetime:
    """Now as naive UTC, the form every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_utc_naive(moment: datetime) -> datetime:
    """An aware datetime (or naive Berlin time) as naive UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BERLIN)
    return moment.astimezone(UTC).replace(tzinfo=None)


def berlin(moment: datetime | None) -> datetime | None:
    """A naive UTC timestamp as aware Europe/Berlin time, for display."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(BERLIN)
