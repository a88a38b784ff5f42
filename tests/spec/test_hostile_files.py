"""Hostile run files: every one gives exit 2 and one line, and neither hangs nor eats memory.

Each case runs the real CLI in a subprocess under a 1 GiB address-space limit; progress is
bounded by what the reader does (no read of a FIFO or a device, no alias expansion, a size
and depth cap), so each finishes at once. The subprocess timeout only keeps a regression
from hanging the suite; it is not what the test asserts.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = (ROOT / "examples" / "quickstart.yaml").read_text()
HANG_GUARD_S = 120


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))


def acdc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "acdc.cli.main", *args], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, preexec_fn=_limit_memory)


def _laughs(tmp: Path) -> Path:
    lines = ["apiVersion: acdc.dev/v1alpha1", "kind: CoevolutionRun", "metadata:", "  name: laughs", "  annotations:",
             '    l0: &l0 "lollollollollollollollollol"']
    lines += [f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 12)]
    path = tmp / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n" + QUICKSTART.split("\nspec:", 1)[1].join(["spec:", ""]))
    return path


def _file(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return make


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo.yaml")
    return tmp / "fifo.yaml"


def _symlink_loop(tmp: Path) -> Path:
    (tmp / "a.yaml").symlink_to(tmp / "b.yaml")
    (tmp / "b.yaml").symlink_to(tmp / "a.yaml")
    return tmp / "a.yaml"


def _huge(tmp: Path) -> Path:
    path = tmp / "huge.yaml"
    with path.open("wb") as handle:  # 50 MB, sparse: cheap to make
        handle.truncate(50 * 10**6)
    return path


def _directory(tmp: Path) -> Path:
    (tmp / "dir.yaml").mkdir()
    return tmp / "dir.yaml"


HOSTILE: dict[str, Callable[[Path], Path]] = {
    "dev-zero": lambda _tmp: Path("/dev/zero"),
    "fifo": _fifo,
    "symlink-loop": _symlink_loop,
    "directory": _directory,
    "50-MB": _huge,
    "billion-laughs-in-annotations": _laughs,
    "nested-flow-sequences": _file("nested.yaml", "[" * 5000 + "]" * 5000),
    "nested-json-objects": _file("nested.json", '{"a":' * 200 + "1" + "}" * 200),
    "5000-digit-integer": _file("bigint.yaml", QUICKSTART.replace("seed: ", "seed: " + "7" * 5000 + " #", 1)),
    "4000-digit-hex-integer": _file("hex.yaml", QUICKSTART.replace("seed: ", "seed: 0x" + "f" * 4000 + " #", 1)),
    "hex-integer-as-name": _file("hexname.yaml", QUICKSTART.replace("name: quickstart", "name: 0x" + "f" * 4000, 1)),
    "boolean-seed": _file("bool.yaml", QUICKSTART.replace("seed: ", "seed: true #", 1)),
    "number-as-boolean": _file("zero.yaml", QUICKSTART.replace("normalize: false", "normalize: 0", 1)),
    "word-as-boolean": _file("yes.yaml", QUICKSTART.replace("normalize: false", 'normalize: "yes"', 1)),
    "impossible-date": _file("date.yaml", QUICKSTART.replace("name: quickstart", "name: 2001-13-45", 1)),
    "base-60-number": _file("sexagesimal.yaml", QUICKSTART.replace("seed: ", "seed: 1:30 #", 1)),
    "boolean-in-a-list-of-sizes": _file("boolsizes.yaml", QUICKSTART.replace(
        "taskForceSizes: [1, 2, 3]", "taskForceSizes: [1, true]", 1)),
    "task-force-larger-than-the-archive": _file("force.yaml", QUICKSTART.replace(
        "taskForceSizes: [1, 2, 3]", "taskForceSizes: [1, 50]", 1)),
    "yaml-1.1-boolean-key": _file("on.yaml", QUICKSTART.replace("spec:\n", "spec:\n  on: 1\n", 1)),
    "merge-key": _file("merge.yaml", QUICKSTART.replace("spec:\n", "spec:\n  <<: {seed: 1}\n", 1)),
    "nul-character": _file("nul.yaml", QUICKSTART.replace("name: quickstart", "name: quick\0start", 1)),
    "duplicate-key": _file("dup.yaml", QUICKSTART.replace("spec:\n", "spec:\n  seed: 1\n  seed: 2\n", 1)),
    "not-utf8": _file("latin1.yaml", b"metadata: {name: caf\xe9}\n"),
    "binary-garbage": _file("garbage.yaml", bytes(range(256)) * 4),
    "tab-indentation": _file("tabs.yaml", "spec:\n\tseed: 1\n"),
    "inf-timeout": _file("inf.yaml", QUICKSTART.replace("spec:\n", "spec:\n  sandbox: {timeoutSeconds: .inf}\n", 1)),
    "nan-score": _file("nan.yaml", QUICKSTART.replace("spec:\n", "spec:\n  selection: {dominatedScore: .nan}\n", 1)),
    "huge-image-name": _file("image.yaml", QUICKSTART.replace(
        "spec:\n", "spec:\n  images: {worker: " + "a" * 100_000 + "}\n", 1)),
    "bool-tag-on-text": _file("booltag.yaml", QUICKSTART.replace("normalize: false", "normalize: !!bool maybe", 1)),
    "int-tag-on-empty-text": _file("inttag.yaml", QUICKSTART.replace("seed: 42", 'seed: !!int ""', 1)),
    "set-tag": _file("set.yaml", QUICKSTART.replace("seed: 42", "seed: !!set [1]", 1)),
    "python-tag": _file("python.yaml", QUICKSTART.replace("seed: 42", "seed: !!python/name:os.system", 1)),
    "exponent-as-name": _file("exponent.yaml", QUICKSTART.replace("name: quickstart", "name: 1e3", 1)),
    "list-as-a-key": _file("complexkey.yaml", QUICKSTART.replace("spec:\n", "spec:\n  ? [seed, x]\n  : 1\n", 1)),
    "newline-in-extra-args": _file("args.yaml", QUICKSTART.replace(
        "spec:\n", 'spec:\n  scientist: {kind: llm, endpoint: {deploy: {model: m, extraArgs: ["a\\nb"]}}}\n', 1)),
}


# What the line must say where the generic parser message would not help.
SAYS = {
    "4000-digit-hex-integer": "integer 0xffff", "hex-integer-as-name": "out of range",
    "boolean-seed": "spec.seed: expected a number, got a boolean",
    "boolean-in-a-list-of-sizes": "got a boolean",
    "number-as-boolean": "spec.crossover.normalize: expected a boolean (true or false)",
    "word-as-boolean": "spec.crossover.normalize: expected a boolean (true or false)",
    "impossible-date": "date.yaml: line 7, column 9: 2001-13-45 is not a valid date (month must be in 1..12; "
                       "quote it to keep it as text)",
    "task-force-larger-than-the-archive": "population.size 10",
    "base-60-number": "sexagesimal.yaml: line 9, column 9: 1:30 reads as a base-60 number in YAML 1.1 (quote it",
    "yaml-1.1-boolean-key": "key 'on' reads as a bool", "merge-key": "merge keys (<<) are not allowed",
    "nul-character": "control character '\\x00' at line 7",
    "bool-tag-on-text": "YAML tag !!bool is not allowed in a run file (only !!str, on a value to keep as text) at "
                        "line 35, column 16",
    "int-tag-on-empty-text": "YAML tag !!int is not allowed", "set-tag": "YAML tag !!set is not allowed",
    "python-tag": "YAML tag !!python/name:os.system is not allowed",
    # The API server's YAML reads 1e3 as a number; so does the run file's reader, and both refuse it.
    "exponent-as-name": "line 7: metadata.name: Input should be a valid string (got 1000.0); quote it",
    "list-as-a-key": "complexkey.yaml: line 9, column 5: a list as a key is not allowed (keys are field names)",
}


# Valid YAML whose value the run file refuses: the line says what is wrong, not "not valid YAML".
VALID_YAML = {"exponent-as-name", "5000-digit-integer", "4000-digit-hex-integer", "hex-integer-as-name", "impossible-date",
              "yaml-1.1-boolean-key", "base-60-number"}


@pytest.mark.parametrize("case", sorted(HOSTILE), ids=str)
def test_hostile_run_file_gives_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    path = HOSTILE[case](tmp_path)
    result = acdc("validate", str(path))
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], result.stderr[-2000:]
    assert SAYS.get(case, "") in lines[0]
    assert case not in VALID_YAML or "not valid YAML" not in lines[0], lines[0]
    assert len(lines[0]) < 600, "the line names the problem, it does not echo the file"


@pytest.mark.parametrize("case", ["fifo", "billion-laughs-in-annotations", "5000-digit-integer"], ids=str)
def test_acdc_run_refuses_the_same_files(case: str, tmp_path: Path) -> None:
    path = HOSTILE[case](tmp_path)
    result = acdc("run", str(path), "--state", str(tmp_path / "state"), "--plain", "--no-report")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _file("secret.yaml", QUICKSTART)(tmp_path)
    path.chmod(0)
    result = acdc("validate", str(path))
    assert result.returncode == 2 and "Permission denied" in result.stderr and "Traceback" not in result.stderr


def test_thousands_of_mistakes_are_answered_in_a_screenful(tmp_path: Path) -> None:
    path = _file("typos.yaml", QUICKSTART.replace("spec:\n", "spec:\n" + "".join(
        f"  typo{n}: 1\n" for n in range(5000)), 1))(tmp_path)
    result = acdc("validate", str(path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert len(lines) == 22 and lines[-1] == "  ... and 4980 more", lines[-3:]
