"""A sandbox pool leaves nothing in the temporary folder: not when its owner is not root
(its runtime folder is read-only), not when its process is killed before it can close."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

from acdc.tasks.sandbox import SandboxLimits, SandboxPool
from acdc.tasks.sandbox.folders import make_pool_folder, remove_tree
from acdc.tasks.sandbox.pool import install_runtime

NOBODY = 65534


def test_a_pools_folder_is_removed_when_its_owner_is_not_root() -> None:
    """As root every folder is writable; the laptop user is not root. The check runs in a
    child dropped to nobody (root's test run) or as the user itself, in a folder of the
    system's temporary folder (pytest's own is private to its user)."""
    shared = Path(tempfile.mkdtemp(prefix="acdc-test-"))
    shared.chmod(0o777)
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through its exit status)
        status = 1
        try:
            if os.geteuid() == 0:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            tempfile.tempdir = str(shared)
            folder = make_pool_folder()
            install_runtime(folder)  # lib/ and its files read-only, as a running pool has them
            (folder / "t1" / "locked").mkdir(parents=True)
            (folder / "t1").chmod(0o500)  # what task code may do to its scratch folder
            (folder / "t2" / "deep").mkdir(parents=True)
            (folder / "t2" / "deep" / "file").write_text("x")
            (folder / "t2" / "deep").chmod(0)  # or lock it even against listing
            remove_tree(folder)
            status = 0 if not folder.exists() else 2
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    left = list(shared.iterdir())
    remove_tree(shared)
    assert os.waitstatus_to_exitcode(status) == 0, "the pool's folder outlived remove_tree"
    assert left == []


def test_the_next_pool_removes_the_folder_of_a_killed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", "import os, signal\n"
         "from acdc.tasks.sandbox import SandboxPool\n"
         "pool = SandboxPool(1)\npool.start()\nprint(pool._base, flush=True)\n"
         "os.kill(os.getpid(), signal.SIGKILL)\n"],
        env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    orphan = Path(killed.stdout.strip())
    assert orphan.parent == tmp_path and orphan.is_dir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    live = make_pool_folder()  # named for this live process: another pool's, still in use
    old = tmp_path / "acdc-sandbox-q1w2e3"  # an older release's name: no owner to check
    elsewhere = tmp_path / orphan.name.replace("acdc-sandbox-", "acdc-sandbox-1")  # another pid namespace's
    old.mkdir()
    elsewhere.mkdir()
    with SandboxPool(1) as pool:
        pool.start()
        assert pool._base is not None and pool._base.is_dir()
        current = pool._base
    assert not orphan.exists(), "a killed pool's folder was not swept"
    assert not current.exists()
    assert live.is_dir() and old.is_dir() and elsewhere.is_dir()


def test_a_sandbox_the_host_cannot_give_stops_the_run_instead_of_failing_steps(tmp_path: Path, monkeypatch) -> None:
    """No bwrap, no free uid block, a sandbox that does not come up: the host's faults. As
    step faults they were retried three times in 40 ms and every model the step scored was
    dropped, the run finishing with exit 0 (an audit)."""
    import fcntl

    from acdc.phases.faults import Fault, classify
    from acdc.tasks.sandbox import confinement, pool

    monkeypatch.setattr(confinement, "find_bwrap", lambda: None)
    with pytest.raises(confinement.SandboxUnavailable) as unavailable:
        confinement.choose(tmp_path, SandboxLimits(), unsafe=False)
    monkeypatch.setattr(pool, "_LOCK_DIR", tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    held = []
    for block in range(pool.UID_BLOCKS):
        handle = open(tmp_path / "locks" / f"70000-{block}.lock", "w")  # noqa: SIM115 (closed below)
        fcntl.flock(handle, fcntl.LOCK_EX)
        held.append(handle)
    try:
        with pytest.raises(Exception, match="uid blocks are in use") as taken:
            pool.claim_uid_block(70000, 1)
    finally:
        for handle in held:
            handle.close()
    assert classify(unavailable.value) is classify(taken.value) is Fault.INFRASTRUCTURE
