"""The sandbox pool's folder on the host: its name, its removal, and orphans' removal.

A pool keeps its runtime in a private temporary folder. Two ways it could outlive the
pool: its ``lib`` is read-only (so task code cannot change the runtime), and a plain
``rmtree`` by a non-root owner cannot unlink files in a folder without write permission;
and a worker killed with SIGKILL (the local runner kills workers on Ctrl-C or a failed
step, the OOM killer) never reaches ``close``. The first is fixed by giving folders back
their owner's write bit before removing them; the second by naming each folder after its
owner's pid (and pid namespace, as containers sharing a /tmp each number their own
processes), so the next pool on the host removes folders whose owner is gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "acdc-sandbox-"


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:  # no /proc: every folder is then in the one namespace "0"
        return "0"


def make_pool_folder() -> Path:
    """A fresh private folder named for this process (``acdc-sandbox-<pid ns>-<pid>-<random>``)."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_pid_namespace()}-{os.getpid()}-"))


def remove_tree(path: Path) -> None:
    """Remove ``path`` even where its folders are closed to their owner (read-only, or not
    even listable), best effort: a folder another uid owns stays, as it would for ``rm -rf``.

    Each folder is opened up before it is listed, so a locked one is entered too; the walk
    keeps its own stack rather than recursing, whatever the depth task code nested to.
    """
    pending = [str(path)]
    while pending:
        folder = pending.pop()
        try:
            mode = os.lstat(folder).st_mode
            if not stat.S_ISDIR(mode):
                continue
            if mode & stat.S_IRWXU != stat.S_IRWXU:
                os.chmod(folder, stat.S_IMODE(mode) | stat.S_IRWXU)
            with os.scandir(folder) as entries:
                pending.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another uid's live process
        return True
    return True


def sweep_orphans(tmp: Path | None = None) -> None:
    """Remove pool folders this uid owns whose owner process no longer exists.

    Only folders of this pid namespace are judged; one without a pid in its name (an older
    release's) or of another namespace is left alone: nothing here says whether its pool
    still runs.
    """
    namespace = _pid_namespace()
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{PREFIX}{namespace}-*-*"):
        pid = path.name[len(PREFIX) + len(namespace) + 1:].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            log.info("sandbox: removed %s, left by a pool whose process is gone", path)
            remove_tree(path)
