from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from acdc.controller.rbac import results_reader_rules, rules
from tests.controller.chaos import ChaosEmulator
from tests.controller.cluster import WATCHED, declare, write_kubeconfig
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (pytest fixture)

# The in-thread operator reads this when kopf first imports its handlers: a 2 s resync lets
# tests see what only a resync notices (a pod that cannot be scheduled) without long waits.
os.environ.setdefault("ACDC_RESYNC_SECONDS", "2")


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The API server of these tests is ``ChaosEmulator`` (with no chaos unless a test asks):
    unlike plain kmock it versions objects, resumes watches, honours selectors and serves
    ``deletecollection``, as the operator needs of a real server. A module's own
    ``pytest.mark.kmock(cls=...)`` still wins."""
    if any("cls" in marker.kwargs for marker in request.node.iter_markers("kmock")):
        return kmock_options
    return {**kmock_options, "cls": ChaosEmulator}


@pytest.fixture
async def cluster(kmock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """kmock serving the builtins and the CRD; $KUBECONFIG points the operator at it."""
    declare(kmock)
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))))
    monkeypatch.setenv("ACDC_METRICS_PORT", "0")
    WATCHED.append(kmock)  # wait_for's progress: this cluster's runs and Jobs moving
    yield kmock
    WATCHED.remove(kmock)
    if isinstance(kmock, ChaosEmulator):
        # A 500 of the emulator's own (not injected chaos) is a harness bug, whatever the test saw.
        assert not kmock.internal_errors, f"the fake API server failed by its own fault: {kmock.internal_errors[:3]}"
        # A real server refuses what the chart's roles do not grant.
        for client, granted in (("operator", rules("cluster")), ("results", results_reader_rules())):
            refused = kmock.verbs[client] - allowed(granted)
            assert not refused, f"{client} requests its RBAC does not allow: {sorted(refused)}"


def allowed(policy: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Every (API group, resource, verb) a list of PolicyRules grants."""
    return {(group, resource, verb) for rule in policy for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


@pytest.fixture
def state(tmp_path: Path, toy_world: Path) -> Path:  # noqa: F811 (fixture)
    """The folder standing in for the run's PVC (the phases run for real on the toy world)."""
    folder = tmp_path / "pvc"
    folder.mkdir()
    return folder
