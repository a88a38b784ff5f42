"""`acdc toyworld build DIR` and `acdc toyworld path`: the offline toy world of models.

`acdc toyworld build operator/acdc/toyworld/shipped --force` rebuilds the packaged world
after a recipe change (the test that compares hashes says when)."""

from __future__ import annotations

import argparse
from pathlib import Path

from acdc.errors import UserError


def _build(args: argparse.Namespace) -> int:
    from acdc.toyworld.build import WORLD_FILE, build_world

    target = Path(args.dir)
    if (target / WORLD_FILE).is_file() and not args.force:
        print(f"{target}: toy world already built (use --force to rebuild)")
        return 0
    if target.exists() and not (target / WORLD_FILE).is_file() and any(target.iterdir()):
        raise UserError(f"{target}: exists and is not a toy world; choose an empty or new directory")
    world = build_world(target)
    for name, info in world["models"].items():
        scores = ", ".join(f"{skill} {levels['mid']:.2f}" for skill, levels in info["heldout_accuracy"].items())
        print(f"{name:>10}: held-out accuracy at medium difficulty: {scores}")
    print(f"toy world written to {target}")
    return 0


def _path(args: argparse.Namespace) -> int:
    from acdc.toyworld.store import ensure_built

    print(ensure_built(args.cache_root))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `toyworld` command group to the CLI."""
    parser = subparsers.add_parser("toyworld", help="build the offline toy world of tiny models")
    commands = parser.add_subparsers(dest="toyworld_command", metavar="COMMAND", required=True)
    build = commands.add_parser("build", help="build tokenizer, base and specialists into DIR")
    build.add_argument("dir", help="output directory (created atomically)")
    build.add_argument("--force", action="store_true", help="rebuild even if DIR holds a toy world")
    build.set_defaults(handler=_build)
    path = commands.add_parser("path", help="print the toy world's directory: the packaged one, else the cached "
                                             "build (built first if absent)")
    path.add_argument("--cache-root", default=None,
                      help="cache root for a build (default $ACDC_CACHE or ~/.cache/acdc)")
    path.set_defaults(handler=_path)
