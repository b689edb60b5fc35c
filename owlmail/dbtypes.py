"""Column types shared by the models."""

import enum

from sqlalchemy import BigInteger, Enum, Integer

MAX_ID = 2**31 - 1  # ids are 32-bit integers; larger numbers cannot name a row

# A 64-bit key on PostgreSQL that stays SQLite's ROWID alias (so it autoincrements).
BigId = BigInteger().with_variant(Integer, "sqlite")


def str_enum(enum_cls: type[enum.Enum]) -> Enum:
    """Store an enum by its value in a plain VARCHAR (no native type to migrate)."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
