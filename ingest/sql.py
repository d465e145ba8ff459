"""Quoting for the few SQL statements that cannot bind a value or must name a column.

Values go through bound parameters wherever DuckDB allows them; these helpers cover the rest:
identifiers (column names read from a header or a catalog) and string literals in statements
that take no parameters (ATTACH, LOAD, CREATE SECRET, read_csv paths). They are the only way a
name or a text reaches SQL text: tests/test_sql_identifiers.py fails on any statement built with
an interpolation that does not go through one of them (its whitelist of safe constants included).
"""

from __future__ import annotations

import re

# A plain identifier: what a table, schema or alias name of ours looks like (\Z: no trailing newline).
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class UnsafeSqlTextError(ValueError):
    """Text that must not be pasted into a statement even when quoted."""


def quote_ident(name: str) -> str:
    """A double-quoted identifier; an embedded quote is doubled, so the name stays one identifier."""
    if "\x00" in name:
        raise UnsafeSqlTextError(f"NUL in identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def is_plain_ident(name: str) -> bool:
    """Letters, digits and `_`, not starting with a digit: a name nobody needs to quote."""
    return bool(_PLAIN.match(name))


def plain_ident(name: str, what: str = "identifier") -> str:
    """`name`, quoted, if it is a plain identifier; else UnsafeSqlTextError naming `what`.

    For names that come from outside (a file's catalog, a setting): such a name is refused rather
    than quoted, so a hostile name is reported instead of becoming a table nobody can type."""
    if not isinstance(name, str) or not is_plain_ident(name):
        raise UnsafeSqlTextError(f"{what} {name!r} is not a plain identifier (letters, digits, _)")
    return quote_ident(name)


def qualified(*parts: str) -> str:
    """`"catalog"."schema"."table"`: each part quoted by `quote_ident`."""
    if not parts:
        raise UnsafeSqlTextError("a qualified name needs at least one part")
    return ".".join(quote_ident(p) for p in parts)


def sql_literal(text: str) -> str:
    """A single-quoted string literal. Line breaks and NUL are refused: no setting or path needs them,
    and a statement log line must stay one line. The message never repeats the text: it may be a secret."""
    if "\x00" in text or "\n" in text or "\r" in text:
        raise UnsafeSqlTextError("control character (line break or NUL) in a text bound for SQL")
    return "'" + text.replace("'", "''") + "'"
