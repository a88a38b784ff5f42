"""One predicate says how a run differs from the one a state holds (``run_differences``); `acdc
run` (resuming a folder) and the init phase (adopting a volume) each word it their own way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acdc.engine.state import RunState
from acdc.errors import UserError
from acdc.phases.init import require_same_run
from acdc.runner.prepare import effective_run
from acdc.spec import load_run
from acdc.spec.changes import run_differences

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = (ROOT / "examples" / "quickstart.yaml").read_text()
EDITS = {"same": ("", ""), "renamed": ("name: quickstart", "name: other"), "reseeded": ("seed: 42", "seed: 7"),
         "lengthened": ("generations: 8", "generations: 20")}


def _run_file(tmp_path: Path, case: str) -> Path:
    old, new = EDITS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(QUICKSTART.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("case", "renamed", "changed"), [
    ("same", False, []), ("renamed", True, []), ("reseeded", False, ["seed"]), ("lengthened", False, [])])
def test_the_differences(tmp_path: Path, case: str, renamed: bool, changed: list[str]) -> None:
    differences = run_differences(load_run(_run_file(tmp_path, "same")), load_run(_run_file(tmp_path, case)))
    assert (differences.renamed, differences.changed, bool(differences)) == (renamed, changed, renamed or bool(changed))


@pytest.mark.parametrize(("case", "resume", "adopt"), [
    ("renamed", "belongs to run 'quickstart', not 'other'", "holds the state of run 'quickstart' (another name)"),
    ("reseeded", "changes fields that cannot change mid-run (seed)",
     "holds the state of run 'quickstart' (fields that cannot change differ: seed)"),
])
def test_each_caller_keeps_its_message(tmp_path: Path, case: str, resume: str, adopt: str) -> None:
    state = tmp_path / "state"
    stored = RunState(state).run_file
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(QUICKSTART)
    given = _run_file(tmp_path, case)
    with pytest.raises(UserError, match=re.escape(resume)):
        effective_run(given, state, None)
    with pytest.raises(UserError, match=re.escape(adopt)):
        require_same_run(stored, load_run(given))
    assert effective_run(_run_file(tmp_path, "lengthened"), state, None).spec.population.generations == 20
    require_same_run(stored, load_run(_run_file(tmp_path, "lengthened")))
