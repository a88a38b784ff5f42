"""Model garbage collection per retention policy, and the free-disk check."""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc.engine.archive import ArchiveMember
from acdc.engine.retention import (
    RetentionPolicy,
    collect_garbage,
    ensure_free_space,
    models_to_keep,
    required_for_children,
)
from acdc.engine.state import RunState
from acdc.engine.taskpool import TaskPool
from acdc.errors import PhaseError


def _member(mid: str) -> ArchiveMember:
    return ArchiveMember(mid, f"models/{mid}", 0.5, {})


def _run(tmp_path: Path) -> RunState:
    state = RunState(tmp_path)
    archives = {
        0: ["seed_math", "gen_0000_ind_00"],
        1: ["gen_0000_ind_00", "gen_0001_ind_00"],
        2: ["gen_0001_ind_00", "gen_0002_ind_01"],
        3: ["gen_0002_ind_01", "gen_0003_ind_00"],
    }
    for g, ids in archives.items():
        state.save_pool(g, TaskPool())
        state.save_archive(g, [_member(m) for m in ids])
    for mid in [
        "gen_0000_ind_00",
        "gen_0000_ind_01",
        "gen_0001_ind_00",
        "gen_0001_ind_01",
        "gen_0002_ind_00",
        "gen_0002_ind_01",
        "gen_0003_ind_00",
        "gen_0003_ind_01",
        "gen_0004_ind_00",
    ]:
        (state.model_dir(mid)).mkdir(parents=True)
        (state.model_dir(mid) / "model.safetensors").write_bytes(b"x" * 100)
    (state.models_dir / "notes").mkdir()
    return state


def test_keeps_archive_milestones_and_newer_models(tmp_path: Path) -> None:
    state = _run(tmp_path)
    policy = RetentionPolicy(keep_every_n_generations=2)
    assert models_to_keep(state, 3, policy) == {
        "seed_math",
        "gen_0000_ind_00",
        "gen_0001_ind_00",
        "gen_0002_ind_01",
        "gen_0003_ind_00",
    }
    deleted = collect_garbage(state, 3, policy)
    assert deleted == ["gen_0000_ind_01", "gen_0001_ind_01", "gen_0002_ind_00", "gen_0003_ind_01"]
    left = sorted(p.name for p in state.models_dir.iterdir())
    assert left == [
        "gen_0000_ind_00",
        "gen_0001_ind_00",
        "gen_0002_ind_01",
        "gen_0003_ind_00",
        "gen_0004_ind_00",
        "notes",
    ]  # gen 4 is in flight; foreign dirs untouched
    assert collect_garbage(state, 3, policy) == []  # idempotent


def test_policy_without_initial_generation(tmp_path: Path) -> None:
    state = _run(tmp_path)
    keep = models_to_keep(state, 3, RetentionPolicy(keep_every_n_generations=0, keep_initial_generation=False))
    assert keep == {"gen_0002_ind_01", "gen_0003_ind_00"}


def test_free_space_check(tmp_path: Path) -> None:
    ensure_free_space(tmp_path / "models" / "x", 1024, "merge")  # missing dirs: checks the nearest parent
    with pytest.raises(PhaseError, match="phase 'merge' needs about .* free"):
        ensure_free_space(tmp_path, 1 << 60, "merge")
    state = _run(tmp_path)
    assert required_for_children([state.model_dir("gen_0000_ind_00")], 8) == 800
