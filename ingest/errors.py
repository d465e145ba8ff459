"""The one error contract of every entry point: a user error is one line and exit status 2.

`UserError` (or a subclass) says what was wrong with what the user gave: which argument or setting,
and what is allowed. `tickwh` (tickwh/cli.py) prints it as `error: <message>` after the one
redaction point (ingest/redact.py) and exits 2; `-v` shows the traceback as well. Anything else
that escapes a command is a defect of ours, not the user's: it exits 1 with a redacted traceback.
"""

from __future__ import annotations

from collections.abc import Callable


class UserError(ValueError):
    """Bad input from the user: an argument, a setting, a file they pointed at. One line, exit 2."""


class SettingError(UserError):
    """A `TICKWH_*` (or other) environment setting with a value that is not allowed."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


def run(command: Callable[[], int | None]) -> int:
    """Run an entry point under the contract: its exit status; a `UserError` is one redacted line and 2
    (`-v` or TICKWH_VERBOSE=1 adds the traceback); anything else is our defect: a redacted traceback and 1.
    `tickwh` runs every command through this, and so does each module's own `python -m` entry."""
    import sys
    import traceback

    from ingest.logs import verbose
    from ingest.redact import redact

    try:
        return int(command() or 0)
    except UserError:
        if verbose():
            print(redact(traceback.format_exc()), file=sys.stderr, end="")
        message = " ".join(redact(str(sys.exc_info()[1])).split())  # one line, whatever the message held
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        print(redact(traceback.format_exc()), file=sys.stderr, end="")
        return 1
