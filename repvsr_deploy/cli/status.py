"""A status line on a terminal's standard error: the stage a long command is in, each replacing the
last, cleared when the command ends, so that its report or its one-line error is all that stays.
Where standard error is no terminal (a log, a pipe), nothing is written."""

from __future__ import annotations

import contextlib
import sys

CLEAR_LINE = "\r\x1b[K"


@contextlib.contextmanager
def status_line():
    """Yields `say(stage)`."""
    stream = sys.stderr
    if not stream.isatty():
        yield lambda stage: None
        return

    def say(stage: str) -> None:
        stream.write(f"{CLEAR_LINE}{stage}…")
        stream.flush()

    try:
        yield say
    finally:
        stream.write(CLEAR_LINE)
        stream.flush()
