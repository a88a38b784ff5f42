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
from acdc.logsafe import configure_logging, print_error

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
    like every other bad input (`acdc COMMAND -h` still prints the usage). argparse quotes a
    rejected value as Python writes it, but repeats unrecognized arguments as typed: escaped."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{self.prog}: {message} (see `{self.prog} -h`)")
        self.exit(2)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # inside the guard: a reader that left early fails this flush
        return code
    except BrokenPipeError:  # an OSError too: it must be caught before the generic one below
        return _closed_pipe()
    except AcdcError as exc:
        print_error(str(exc))
        return exc.exit_code
    except OSError as exc:  # the file system refused (a path through a file, no permission, a full
        # disk): the environment's problem, not a bug, and the message names the path
        print_error(str(exc))
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


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
