"""The `acdc` command line.

Each command lives in its own module exposing ``register(subparsers)``, which adds a
parser whose ``handler`` default is called with the parsed arguments. Every expected
failure (``acdc.errors.AcdcError``: a user mistake, a corrupt state file, a failed phase
or run, an interruption) is caught here, once: it prints one line and exits with the
error's code. Only real bugs show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from acdc import __version__
from acdc.errors import AcdcError
from acdc.logsafe import EscapingFormatter, escape_controls

# Modules are imported when the parser is built; each keeps heavy imports (torch,
# kopf) inside its handler so `acdc validate` stays fast.
COMMAND_MODULES = (
    "acdc.cli.validate_cmd",
    "acdc.cli.crd_cmd",
    "acdc.cli.toyworld_cmd",
    "acdc.cli.phase_cmd",
    "acdc.cli.run_cmd",
    "acdc.cli.inspect_cmd",
    "acdc.cli.verify_cmd",
    "acdc.cli.evaluate_cmd",
    "acdc.cli.serve_cmd",
    "acdc.cli.export_cmd",
    "acdc.cli.operator_cmd",
)


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one error style: a bad flag is one ``error:`` line and exit 2,
    like every other bad input (`acdc COMMAND -h` still prints the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} -h`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="acdc",
        description="AC/DC: coevolve merged LLMs and synthetic tasks, locally or on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"acdc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a command whose module is not part of this build
            raise
        module.register(subparsers)
    return parser


def configure_logging(verbose: bool) -> None:
    """One stderr handler for every command (the operator's kopf loggers included), whose
    formatter escapes control characters: logged task output cannot forge lines or drive
    the terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # inside the guard: a reader that left early fails this flush
        return code
    except BrokenPipeError:  # an OSError too: it must be caught before the generic one below
        return _closed_pipe()
    except AcdcError as exc:
        _print_error(str(exc))
        return exc.exit_code
    except OSError as exc:  # the file system refused (a path through a file, no permission, a full
        # disk): the environment's problem, not a bug, and the message names the path
        _print_error(str(exc))
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _print_error(message: str) -> None:
    """The one ``error:`` line. A control character in it (a newline or an escape in a file name)
    is written as an escape (``escape_controls``, as in the logs), so the line cannot break or
    drive the terminal; only the indented lines a message adds by design (an invalid run
    file's fields) stay lines."""
    print("error: " + "\n  ".join(escape_controls(line) for line in message.split("\n  ")), file=sys.stderr)


def _closed_pipe() -> int:
    """The reader went away (`acdc status | head`): that is its choice, not an error to trace.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again; the
    exit code is the one a process killed by SIGPIPE reports to a shell.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
