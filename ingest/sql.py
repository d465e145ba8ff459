"""Quoting for the few SQL statements that cannot bind a value or must name a column.

Values go through bound parameters wherever DuckDB allows them; these two cover the rest:
identifiers (column names read from a header or a catalog) and string literals in statements
that take no parameters (ATTACH, LOAD, CREATE SECRET, read_csv paths).
"""

from __future__ import annotations


class UnsafeSqlTextError(ValueError):
    """Text that must not be pasted into a statement even when quoted."""


def quote_ident(name: str) -> str:
    """A double-quoted identifier; an embedded quote is doubled, so the name stays one identifier."""
    if "\x00" in name:
        raise UnsafeSqlTextError(f"NUL in identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A single-quoted string literal. Line breaks and NUL are refused: no setting or path needs them,
    and a statement log line must stay one line."""
    if "\x00" in text or "\n" in text or "\r" in text:
        raise UnsafeSqlTextError(f"control character in {text!r}")
    return "'" + text.replace("'", "''") + "'"
