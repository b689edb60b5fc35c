"""Secrets generated once per installation and kept in instance/, readable by the owner only."""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def instance_secret(directory: str | Path, name: str) -> str:
    """The secret kept in directory/name; the first process to need it creates it.

    Written to a temporary file with mode 0600 and linked into place: the name never
    shows a half-written or world-readable file, and when two processes start at once
    the link of the second fails, so both read the one key that won.
    """
    path = Path(directory) / name
    if not path.exists():
        _create(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def _create(path: Path, value: str) -> None:
    """Write value to path unless another process was first (then keep theirs)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:  # mkstemp opens it with mode 0600
            file.write(value)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: keep theirs
            os.link(temporary, path)  # unlike rename, never replaces a winner's file
    finally:
        os.unlink(temporary)
