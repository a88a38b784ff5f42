"""Log lines that untrusted text cannot forge: control characters are written as escapes.

Logs carry text the operator does not control (a task's exception, a scientist's rejected
draft with its instance ids, an HTTP request line). A newline in it could fake whole log
lines, and an escape sequence (ESC or the C1 CSI, an OSC ended by BEL) could rewrite the
reader's terminal. ``EscapingFormatter`` escapes them where every line is formatted, so
no log call has to remember to.
"""

from __future__ import annotations

import logging
from types import TracebackType

_CONTROLS = (*range(0x20), *range(0x7F, 0xA0))  # C0, DEL and C1
_ESCAPES = {c: f"\\x{c:02x}" for c in _CONTROLS} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
_ESCAPES_BUT_NEWLINE = {c: escape for c, escape in _ESCAPES.items() if c != ord("\n")}

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def escape_controls(text: str) -> str:
    """``text`` on one line and inert in a terminal: each control character becomes an escape."""
    return text.translate(_ESCAPES)


class EscapingFormatter(logging.Formatter):
    """Escapes control characters in every formatted message. A traceback, which the base
    class appends after the message, keeps its own line breaks; only its other control
    characters (an exception's text may hold them) are escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: _ExcInfo) -> str:  # noqa: N802 (logging's name)
        return super().formatException(ei).translate(_ESCAPES_BUT_NEWLINE)
