"""The one error contract of every entry point: a user error is one line and exit status 2.

`UserError` (or a subclass) says what was wrong with what the user gave: which argument or setting,
and what is allowed. `tickwh` (tickwh/cli.py) prints it as `error: <message>` after the one
redaction point (ingest/redact.py) and exits 2; `-v` shows the traceback as well. Anything else
that escapes a command is a defect of ours, not the user's: it exits 1 with a redacted traceback.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user: an argument, a setting, a file they pointed at. One line, exit 2."""


class SettingError(UserError):
    """A `TICKWH_*` (or other) environment setting with a value that is not allowed."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")
