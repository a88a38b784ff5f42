"""Log lines that untrusted text cannot forge: control characters are written as escapes.

Logs carry text the operator does not control (a task's exception, a scientist's rejected
draft with its instance ids, an HTTP request line). A newline in it could fake whole log
lines, and an escape sequence (ESC or the C1 CSI, an OSC ended by BEL) could rewrite the
reader's terminal. ``EscapingFormatter`` escapes them where every line is formatted, so
no log call has to remember to.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType

_CONTROLS = (*range(0x20), *range(0x7F, 0xA0))  # C0, DEL and C1 (category Cc; NEL U+0085 is C1)
# Characters that are not controls to Python but still break a line in some viewers (the
# line and paragraph separators, categories Zl and Zp) or reorder the text around them when
# shown (the bidirectional formatting characters, as in the "Trojan Source" attack).
_INVISIBLE_LAYOUT = (0x2028, 0x2029, 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES = ({c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _INVISIBLE_LAYOUT}
            | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES_BUT_NEWLINE = {c: escape for c, escape in _ESCAPES.items() if c != ord("\n")}

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def escape_controls(text: str) -> str:
    """``text`` on one line, inert in a terminal and in its written order: each control, line or
    paragraph separator and bidirectional formatting character becomes an escape."""
    return text.translate(_ESCAPES)


class EscapingFormatter(logging.Formatter):
    """Escapes control characters in every formatted message. A traceback, which the base
    class appends after the message, keeps its own line breaks; only its other control
    characters (an exception's text may hold them) are escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: _ExcInfo) -> str:  # noqa: N802 (logging's name)
        return super().formatException(ei).translate(_ESCAPES_BUT_NEWLINE)


def print_error(message: str, label: str = "error") -> None:
    """The one ``error:`` line a command prints for a failure (``label`` names another kind). A
    control character in it (a newline or an escape in a file name) is written as an escape, as
    in the logs, so the line cannot break or drive the terminal; only the indented lines a
    message adds by design (an invalid run file's fields) stay lines."""
    print(f"{label}: " + "\n  ".join(escape_controls(line) for line in message.split("\n  ")), file=sys.stderr)


QUIET_LOGGERS = {"lm_eval": logging.ERROR}
"""Library loggers, and the level below which their lines are their own CLI's progress chatter (lm-eval: about
fifteen INFO lines per model, and a WARNING that our gen_kwargs override the task's, which
they do on purpose); shown with ``-v``. Set here rather than through lm-eval's own logging
setup, which adds a handler of its own that would bypass the escaping formatter."""


def configure_logging(level: int) -> None:
    """One stderr handler whose formatter escapes control characters, for every process that
    logs: each command (the operator's kopf loggers included) and each worker process of the
    local runner (a spawned process starts with logging unconfigured, and Python's last-resort
    handler writes a message as is)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if level > logging.DEBUG:
        for name, floor in QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(floor)
