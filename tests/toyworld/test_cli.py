import argparse
import shutil

import pytest

from acdc.cli import toyworld_cmd
from acdc.errors import UserError


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="acdc")
    toyworld_cmd.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_build_into_a_built_world_is_a_no_op(toy_world, tmp_path, capsys):
    target = tmp_path / "world"
    shutil.copytree(toy_world, target)
    args = _parse("toyworld", "build", str(target))
    assert args.handler(args) == 0
    assert "already built" in capsys.readouterr().out


def test_build_refuses_a_foreign_non_empty_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    args = _parse("toyworld", "build", str(tmp_path))
    with pytest.raises(UserError, match="not a toy world"):
        args.handler(args)


def test_path_prints_the_world_in_use(toy_world, tmp_path, capsys):
    args = _parse("toyworld", "path", "--cache-root", str(tmp_path))
    assert args.handler(args) == 0
    assert capsys.readouterr().out.strip() == str(toy_world)
