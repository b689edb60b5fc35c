"""Plain-text rules shared by forms, services and CSV files."""

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_single_line(value: str) -> bool:
    """True when value has no line break or other control character."""
    return value.isprintable()


def one_line(text: str | None, limit: int) -> str:
    """A single line without control characters, spaces collapsed, at most `limit` long."""
    printable = "".join(ch if ch.isprintable() else " " for ch in (text or ""))
    return " ".join(printable.split())[:limit]


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: never a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
