"""`acdc status` and `acdc taskforce` on a real finished run, and their user errors."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from acdc.engine.skills import skill_matrix
from tests.runner.conftest import MINI
from tests.runner.finished_run import acdc, latest_archive, latest_pool

GENERATIONS = MINI["spec"]["population"]["generations"]


def test_status_json_matches_the_committed_records(finished_state: Path) -> None:
    result = acdc("status", str(finished_state), "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    archive = latest_archive(finished_state)
    pool = latest_pool(finished_state)
    assert status["run_state"] == "finished"
    assert (status["generation"], status["generations"]) == (GENERATIONS, GENERATIONS)
    assert sorted(m["model_id"] for m in status["archive"]) == sorted(m["model_id"] for m in archive["members"])
    fitness = [m["fitness"] for m in status["archive"]]
    assert fitness == sorted(fitness, reverse=True)
    assert status["pool_size"] == len(pool) == sum(status["pool_bands"].values())
    best = max(m["fitness"] for m in archive["members"])
    assert status["summary"]["bestFitness"] == pytest.approx(best, abs=1e-6)
    assert status["recent"] and all(row["status"] in ("succeeded", "dropped") for row in status["recent"])


def test_status_text_is_one_screen(finished_state: Path) -> None:
    result = acdc("status", str(finished_state))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"generation {GENERATIONS} / {GENERATIONS}" in text and "state: finished" in text
    for member in latest_archive(finished_state)["members"]:
        assert member["model_id"] in text
    assert len(text.splitlines()) < 60


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "no such state folder"),
    (lambda tmp: tmp, "not an acdc state folder"),
])
def test_status_of_a_wrong_folder_is_a_user_error(tmp_path: Path, make, message: str) -> None:
    for command in ("status", "report", "taskforce"):
        extra = ["--size", "1"] if command == "taskforce" else []
        result = acdc(command, str(make(tmp_path)), *extra)
        assert result.returncode == 2, (command, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_taskforce_covers_what_its_members_solve(finished_state: Path, tmp_path: Path) -> None:
    out = tmp_path / "force.txt"
    result = acdc("taskforce", str(finished_state), "--size", "2", "--json", "--output", str(out))
    assert result.returncode == 0, result.stderr
    force = json.loads(result.stdout)
    archive = {m["model_id"]: m for m in latest_archive(finished_state)["members"]}
    pool = latest_pool(finished_state)
    chosen = [m["model_id"] for m in force["members"]]
    assert len(set(chosen)) == 2 and set(chosen) <= set(archive)
    skills = skill_matrix([archive[m]["scores"] for m in chosen], pool)
    assert force["coverage"] == pytest.approx(skills.any(axis=0).mean(), abs=1e-6)
    # No single archive model beats the pair, and greedy's first pick is a model solving the most.
    single = skill_matrix([m["scores"] for m in archive.values()], pool).sum(axis=1)
    assert force["coverage"] * len(pool) >= single.max() - 1e-9
    assert force["members"][0]["solved"] == int(single.max())
    paths = out.read_text().splitlines()
    # evolved models are stored relative to the state folder; the export is usable anywhere
    assert paths == [str(finished_state / archive[m]["model_path"]) for m in chosen]
    assert all(Path(p, "config.json").is_file() for p in paths)


def test_exact_task_force_is_at_least_as_good_as_greedy(finished_state: Path) -> None:
    greedy = json.loads(acdc("taskforce", str(finished_state), "--size", "2", "--json").stdout)
    exact = json.loads(acdc("taskforce", str(finished_state), "--size", "2", "--method", "exact", "--json").stdout)
    assert exact["coverage"] >= greedy["coverage"]
    union = json.loads(acdc("taskforce", str(finished_state), "--size", "2", "--all-generations", "--json").stdout)
    assert union["candidates"] >= greedy["candidates"]
    evolved = json.loads(acdc("taskforce", str(finished_state), "--size", "1", "--evolved-only", "--json").stdout)
    assert evolved["candidates"] < greedy["candidates"]
    assert not any(m["model_id"].startswith("seed_") for m in evolved["members"])


def test_taskforce_larger_than_the_archive_is_refused(finished_state: Path) -> None:
    size = len(latest_archive(finished_state)["members"]) + 1
    result = acdc("taskforce", str(finished_state), "--size", str(size))
    assert result.returncode == 2 and "--size" in result.stderr and "Traceback" not in result.stderr
    zero = acdc("taskforce", str(finished_state), "--size", "0")
    assert zero.returncode == 2 and "Traceback" not in zero.stderr



@pytest.mark.parametrize("command", [["status"], ["taskforce", "--size", "2"]], ids=lambda c: c[0])
def test_a_reader_leaving_early_is_no_traceback(finished_state: Path, command: list[str]) -> None:
    """`acdc status DIR | head`: the pipe's read end is closed before acdc writes a byte."""
    process = subprocess.Popen([sys.executable, "-m", "acdc.cli.main", *command, str(finished_state)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait() == 128 + signal.SIGPIPE, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_run_on_a_finished_state_answers_without_rebuilding(finished_state: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the toy world (seconds of torch imports) nor the report (held-out grading) is touched."""
    monkeypatch.setattr("acdc.runner.prepare.prepare_toy_world", lambda spec: pytest.fail("toy world prepared"))
    monkeypatch.setattr("acdc.report.build_report", lambda *a, **k: pytest.fail("report rebuilt"))
    run_file = tmp_path / "mini.yaml"
    run_file.write_text(yaml.safe_dump(MINI))
    before = (finished_state / "report.html").stat().st_mtime_ns
    result = acdc("run", str(run_file), "--state", str(finished_state), "--plain")
    assert result.returncode == 0, result.stderr
    assert "already finished" in result.stdout and "report.html" in result.stdout
    assert (finished_state / "report.html").stat().st_mtime_ns == before


def test_run_on_a_finished_state_without_its_report_writes_it(finished_state: Path, tmp_path: Path) -> None:
    """A Ctrl-C while the report was being built: `acdc run` again used to say "already
    finished" and leave the run without one."""
    state = tmp_path / "copy"
    shutil.copytree(finished_state, state, symlinks=True)
    (state / "report.html").unlink()
    run_file = tmp_path / "mini.yaml"
    run_file.write_text(yaml.safe_dump(MINI))
    result = acdc("run", str(run_file), "--state", str(state), "--plain")
    assert result.returncode == 0, result.stderr
    assert "already finished; writing its report" in result.stdout and (state / "report.html").is_file()


def test_archive_paths_are_usable_from_a_relative_state_path(finished_state: Path, monkeypatch) -> None:
    """`make quickstart` passes `--state runs/quickstart`: the report's held-out grading once joined
    such a relative state folder to the model paths twice and could not load any child."""
    from acdc.engine.state import RunState
    from acdc.runner.snapshot import resolved_members

    monkeypatch.chdir(finished_state.parent)
    state = RunState(Path(finished_state.name))
    members = resolved_members(state, state.latest_generation())
    assert members
    for member in members:
        path = Path(member.model_path)
        assert path.is_absolute() and state.resolve_model(member.model_path) == path
        assert (path / "config.json").is_file(), path
