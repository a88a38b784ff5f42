"""Run-state layout: round trips, idempotent bytes, clear errors, kill-and-resume."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acdc import atomic
from acdc.engine.archive import ArchiveMember
from acdc.engine.parents import ChildPlan
from acdc.engine.state import LAYOUT_VERSION, RunState, SelectionRecord
from acdc.engine.taskpool import AdaptationRequest, TaskPool
from acdc.errors import StateError
from tests.engine.resume_writer import expected_archive

ROOT = Path(__file__).resolve().parents[2]

MEMBER = ArchiveMember(
    "gen_0001_ind_00",
    "models/gen_0001_ind_00",
    0.5,
    {"task_000002_b": None, "task_000001_a": 1.0},
    ("seed_math", "seed_code"),
)


def test_round_trips_and_identical_bytes(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    state.init()
    pool = TaskPool().with_tasks(["task_000002_b", "task_000001_a"])
    plan = [ChildPlan("gen_0001_ind_00", ("seed_math", "seed_code"), 7, {"method": "linear"}, {"rate": 0.25})]
    sel = SelectionRecord(("gen_0001_ind_00",), {"gen_0001_ind_00": 999.0}, ("gen_0001_ind_01",))
    req = [AdaptationRequest(3, "task_000001_a", "harder", "make_harder", 1.0)]
    state.save_archive(1, [MEMBER])
    state.save_pool(1, pool)
    state.save_plan(1, plan)
    state.save_selection(1, sel)
    state.save_adaptation(1, req)
    state.save_scores(1, "gen_0001_ind_00", MEMBER.scores)
    assert state.load_archive(1) == [MEMBER]
    assert state.load_archive(1)[0].scores["task_000002_b"] is None  # failed scoring stays distinguishable
    assert state.load_pool(1) == pool
    assert state.load_plan(1) == plan
    assert state.load_selection(1) == sel
    assert state.load_adaptation(1) == req
    assert state.load_scores(1, "gen_0001_ind_00") == dict(MEMBER.scores)
    before = state.archive_file(1).read_bytes()
    state.save_archive(1, [MEMBER])  # a re-run phase rewrites the same bytes
    assert state.archive_file(1).read_bytes() == before
    assert state.latest_generation() == 1 and state.next_generation() == 2


def _archive_of(**change: object) -> str:
    """An archive record of one member with ``change`` applied (what damage or tampering leaves)."""
    member = {**MEMBER.to_dict(), **change}
    return json.dumps({"layout_version": 1, "kind": "archive", "generation": 1, "members": [member]})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"layout_version": 1, "kind": "archive", "generation": 1, "members": [', "corrupt or partially written"),
        (
            json.dumps({"layout_version": LAYOUT_VERSION + 1, "kind": "archive", "generation": 1, "members": []}),
            "upgrade acdc",
        ),
        (json.dumps({"kind": "archive", "generation": 1, "members": []}), "no layout_version"),
        (json.dumps({"layout_version": 1, "kind": "task_pool", "generation": 1}), "expected a archive record"),
        (json.dumps({"layout_version": 1, "kind": "archive", "generation": 2, "members": []}), "expected 1"),
        (
            json.dumps({"layout_version": 1, "kind": "archive", "generation": 1, "members": [{"model_id": "x"}]}),
            "malformed archive",
        ),
        ("[]", "expected a JSON object"),
        *[(_archive_of(**change), message) for change, message in [
            ({"fitness": float("nan")}, "fitness must be a number in \\[0, 1\\]"),
            ({"fitness": 1e30}, "fitness must be a number"),
            ({"fitness": True}, "fitness must be a number"),
            ({"scores": {"task_000001_a": float("inf")}}, "scores must map task ids to numbers in"),
            ({"scores": {"task_000001_a": -0.5}}, "scores must map"),
            ({"model_path": "../../../etc"}, "must be models/gen_0001_ind_00 \\(an evolved model's own folder\\)"),
            ({"model_path": "models/gen_0001_ind_01"}, "must be models/gen_0001_ind_00"),
            ({"model_path": "/etc"}, "'/etc' of gen_0001_ind_00 must be models/gen_0001_ind_00"),
            ({"model_id": "seed_math", "model_path": "seeds/math"}, "must be an absolute folder or models/seed_math"),
        ]],
    ],
)
def test_bad_files_raise_state_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    state = RunState(tmp_path)
    state.archive_file(1).parent.mkdir(parents=True)
    state.archive_file(1).write_text(content)
    with pytest.raises(StateError, match=message) as info:
        state.load_archive(1)
    assert info.value.path == state.archive_file(1)


def test_only_a_starting_model_may_live_outside_the_state(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    seed = ArchiveMember("seed_math", "/models/math", 0.5, {})
    state.save_archive(1, [seed, MEMBER])
    assert state.load_archive(1) == [seed, MEMBER]


def test_a_device_or_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """/dev/null stands for any device (a /dev/zero would fill the memory of a regressed test);
    the size cap is lowered so that an oversized file is cheap to make."""
    state = RunState(tmp_path)
    state.archive_file(1).parent.mkdir(parents=True)
    state.archive_file(1).symlink_to("/dev/null")
    with pytest.raises(StateError, match="0001.json: file is not a regular file"):
        state.load_archive(1)
    state.archive_file(1).unlink()
    state.save_archive(1, [MEMBER])
    size = state.archive_file(1).stat().st_size
    monkeypatch.setattr(atomic, "MAX_STATE_JSON_BYTES", size - 1)
    with pytest.raises(StateError, match=f"0001.json: file is {size} bytes; the limit is {size - 1}"):
        state.load_archive(1)


def test_corrupt_newest_generation_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    for g in (0, 1):
        state.save_pool(g, TaskPool())
        state.save_archive(g, [MEMBER])
    state.archive_file(1).write_text('{"layout_version": 1, "kind": "arch')
    with pytest.raises(StateError, match="0001.json"):
        state.latest_generation()


def test_missing_file_and_bad_ids(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    assert state.latest_generation() is None and state.next_generation() == 0
    with pytest.raises(StateError, match="missing"):
        state.load_plan(3)
    with pytest.raises(Exception, match="not a model id"):
        state.model_dir("../etc")


def test_kill_and_resume_loses_and_duplicates_no_generation(tmp_path: Path) -> None:
    last = 60
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "tests.engine.resume_writer", str(tmp_path), str(last), "0.005"]
    kills, seen = 0, []
    while True:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready" (or EOF if it died)
        if kills < 10:  # ten random kills, then let it finish
            time.sleep(rng.uniform(0.0, 0.3))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        proc.wait()
        seen.append(RunState(tmp_path).latest_generation())  # every committed record must load
        if proc.returncode == 0:
            break
    assert kills >= 5 and seen[-1] == last
    assert any(g is not None and 0 < g < last for g in seen[:-1]), f"no kill landed mid-run: {seen}"
    state = RunState(tmp_path)
    assert state.committed_generations() == list(range(last + 1))
    previous = 0.0
    for g in range(last + 1):
        members = state.load_archive(g)
        assert members == expected_archive(g, previous)  # built on the right predecessor, once
        assert [c.child_id for c in state.load_plan(g)] == [m.model_id for m in members]
        previous = sum(m.fitness for m in members)
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    state.init()  # sweeps scratch files of killed writers
    assert not [p for p in leftovers if p.exists() and p.parent in (tmp_path / "archives", tmp_path / "pools")]


def test_step_and_seed_records_carry_the_envelope_and_older_ones_still_load(tmp_path: Path) -> None:
    """Steps and seeds.json are enveloped now; a state folder written before (no envelope)
    must still resume, so the plain form is read as layout 1."""
    from acdc.steps import Phase, Step, StepRecord

    state = RunState(tmp_path)
    step = Step(2, Phase.MERGE, 1)
    record = StepRecord("succeeded", {"model": "gen_0002_ind_01"})
    state.save_step(step, record)
    written = json.loads(state.step_file(step).read_text())
    assert (written["layout_version"], written["kind"], written["generation"]) == (LAYOUT_VERSION, "step", 2)
    state.save_seeds({"seed_a": "/m/a"}, {"seed_a": {"config.json": {"size": 1, "head": "h", "sha256": "s"}}})
    assert json.loads(state.seeds_file.read_text())["kind"] == "seeds"
    assert state.load_steps() == {step.name: record}
    assert state.load_seeds()[0] == {"seed_a": "/m/a"}

    older = Step(1, Phase.SELECT)
    state.step_file(older).write_text(json.dumps({"step": older.name, "status": "succeeded", "result": {}}))
    state.seeds_file.write_text(json.dumps({"models": {"seed_b": "/m/b"}}))
    assert state.load_steps()[older.name] == StepRecord("succeeded", {})
    assert state.load_seeds() == ({"seed_b": "/m/b"}, {})

    state.seeds_file.write_text(json.dumps({"layout_version": LAYOUT_VERSION + 1, "kind": "seeds", "models": {}}))
    with pytest.raises(StateError, match="upgrade acdc"):
        state.load_seeds()
    state.step_file(older).write_text(json.dumps({"layout_version": 1, "kind": "step", "result": {}}))
    with pytest.raises(StateError, match="malformed step record"):
        state.load_steps()
