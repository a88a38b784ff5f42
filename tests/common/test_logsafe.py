"""Logged untrusted text stays on its own line and cannot drive the reader's terminal."""

from __future__ import annotations

import logging
import subprocess
import sys
import unicodedata

from acdc.logsafe import EscapingFormatter, escape_controls

# What a task's exception or instance id once put in the log as is: a forged line, a colour
# change (CSI, also as the one-byte C1 form), a window title (OSC ... BEL), a carriage return.
FORGED = ("boom\n2026-12-02 11:24:05,255 ERROR acdc.run: g0000-tasks FAILED \x1b[31mRED\x1b[0m \x9b2J"
          "\x1b]0;pwned\x07\rDEL\x7f")
CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]


def test_escape_controls_leaves_one_inert_line() -> None:
    escaped = escape_controls(FORGED)
    assert not any(c in escaped for c in CONTROLS)
    assert escaped.startswith("boom\\n2026-12-02") and "\\x1b[31mRED" in escaped and "\\x9b2J" in escaped
    assert "\\x07\\rDEL\\x7f" in escaped
    assert escape_controls("plain text, ünïcode and a \\ backslash") == "plain text, ünïcode and a \\ backslash"


def test_formatter_escapes_the_message_but_keeps_a_tracebacks_lines() -> None:
    formatter = EscapingFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("acdc.phases.tasks", logging.INFO, __file__, 1, "task %s rejected: %s",
                               ("t1", FORGED), None)
    assert formatter.format(record) == f"INFO acdc.phases.tasks: task t1 rejected: {escape_controls(FORGED)}"
    try:
        raise ValueError(FORGED)
    except ValueError:
        failed = logging.LogRecord("acdc.run", logging.ERROR, __file__, 1, "step failed", (), sys.exc_info())
    message, *traceback = formatter.format(failed).split("\n")
    assert message == "ERROR acdc.run: step failed" and traceback[0] == "Traceback (most recent call last):"
    assert traceback[-2:] == ["ValueError: boom", "2026-12-02 11:24:05,255 ERROR acdc.run: g0000-tasks FAILED "
                              "\\x1b[31mRED\\x1b[0m \\x9b2J\\x1b]0;pwned\\x07\\rDEL\\x7f"]


def test_the_cli_logs_through_the_escaping_formatter() -> None:
    """As every command configures it (a subprocess: pytest holds this process's root logger)."""
    script = ("import logging, sys; from acdc.logsafe import configure_logging; configure_logging(logging.INFO); "
              "logging.getLogger('acdc.phases.tasks').info('task t1 rejected: %s', sys.argv[1])")
    result = subprocess.run([sys.executable, "-c", script, FORGED], capture_output=True, text=True, check=True)
    assert result.stderr.count("\n") == 1 and not any(c in result.stderr[:-1] for c in CONTROLS)
    assert result.stderr.rstrip("\n").endswith(f"INFO acdc.phases.tasks: task t1 rejected: {escape_controls(FORGED)}")


def test_separators_and_bidi_controls_are_escaped_too() -> None:
    """Every character that breaks a line in some viewer (categories Cc, Zl, Zp: NEL, U+2028,
    U+2029) or reorders the text shown around it (the bidirectional formatting characters of
    "Trojan Source") is written as an escape; other text, right-to-left letters included, is kept."""
    # Unicode's Bidi_Control property (PropList.txt); unicodedata has no accessor for it.
    bidi_controls = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
    hostile = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Cc", "Zl", "Zp")]
    hostile += [chr(c) for c in bidi_controls]
    assert {"\u0085", "\u2028", "\u2029"} <= set(hostile)
    escaped = escape_controls("".join(hostile))
    assert escaped.isascii() and escaped.isprintable()
    assert escape_controls("access granted\u202e\u2066 // admin\u2069\u2028x") == \
        "access granted\\u202e\\u2066 // admin\\u2069\\u2028x"
    assert escape_controls("שלום עולם, مرحبا") == "שלום עולם, مرحبا"


def test_library_chatter_is_kept_below_its_floor_unless_verbose() -> None:
    """lm-eval's INFO lines (about fifteen per model) stay out of a run's output; -v shows them.
    In a child process: logging's configuration is the process's."""
    probe = ("import logging, sys; from acdc.logsafe import configure_logging; configure_logging(int(sys.argv[1])); "
             "log = logging.getLogger('lm_eval.evaluator'); "
             "print(log.isEnabledFor(logging.INFO), log.isEnabledFor(logging.ERROR))")
    quiet, verbose = (subprocess.run([sys.executable, "-c", probe, str(level)], capture_output=True, text=True, check=True).stdout
                      for level in (logging.INFO, logging.DEBUG))
    assert quiet.split() == ["False", "True"] and verbose.split() == ["True", "True"]
