"""Process confinement applied by a sandbox worker to itself before any task code runs.

Stdlib only: this file is copied into the sandbox's read-only lib dir and imported by the
worker runner started with ``python -I``. Every step is attempted in order and recorded in
the returned report, so the trusted parent can say exactly what is enforced here:

- network namespace (no interface but a down loopback) — needs CAP_SYS_ADMIN (root here;
  in a non-root Kubernetes pod a NetworkPolicy does this job instead);
- mount namespace with the private work dir bound over /tmp, /var/tmp and /dev/shm, and
  tmpfs over directories the dropped uid could not traverse, re-exposing only the Python
  installation inside them (so secrets under e.g. /root stay invisible);
- a dedicated unprivileged uid/gid per worker slot (so RLIMIT_NPROC counts only this
  worker's processes and a kill(-1) reaps everything it spawned);
- rlimits: address space, file size, process count, open files, no core dumps;
- not dumpable (other processes of the same uid cannot read this one's fds via /proc).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 1 << 14
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_PR_SET_DUMPABLE = 4

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    rc = _libc.mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None, flags, data.encode() if data else None
    )
    _check(rc, f"mount {source} on {target}")


def _world_traversable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o001)
    except FileNotFoundError:
        return True  # nothing there to hide or expose


def _blocked_ancestor(path: str) -> tuple[str, str] | None:
    """First ancestor of ``path`` others cannot traverse, and its child on the way to ``path``."""
    parts = os.path.realpath(path).strip("/").split("/")
    current = "/"
    for index, part in enumerate(parts[:-1] if len(parts) > 1 else []):
        nxt = os.path.join(current, part)
        if not _world_traversable(nxt) and index + 1 < len(parts):
            return nxt, os.path.join(nxt, parts[index + 1])
        current = nxt
    return None


def _expose_python(stage_root: str, needed: list[str]) -> None:
    """Hide untraversable dirs behind a tmpfs, re-binding only the subtrees Python needs."""
    plans: dict[str, set[str]] = {}
    for path in needed:
        found = _blocked_ancestor(path)
        if found:
            plans.setdefault(found[0], set()).add(found[1])
    staged: list[tuple[str, str]] = []
    for blocked, children in sorted(plans.items()):
        for child in sorted(children):
            stage = os.path.join(stage_root, f"stage{len(staged)}")
            os.mkdir(stage)
            _mount(child, stage, None, _MS_BIND | _MS_REC)
            staged.append((stage, child))
        _mount("tmpfs", blocked, "tmpfs", 0, "mode=0755,size=1m")
    for stage, child in staged:
        os.mkdir(child, 0o755)
        _mount(stage, child, None, _MS_BIND | _MS_REC)
        _check(_libc.umount2(stage.encode(), _MNT_DETACH), f"umount {stage}")
        os.rmdir(stage)


def _covering(path: str, covered: list[str]) -> str | None:
    """The covered dir (e.g. /tmp) that ``path`` lives under, if any."""
    real = os.path.realpath(path)
    return next((c for c in covered if real.startswith(os.path.realpath(c) + "/")), None)


def _keep_visible(workdir: str, covered: list[str], needed: list[str]) -> None:
    """Mirror needed paths that live under a soon-covered dir (a virtualenv in /tmp, say)
    into the work dir, read-only, so they appear at their usual place once it covers them."""
    for path in needed:
        cover = _covering(path, covered)
        if cover is None:
            continue
        real = os.path.realpath(path)
        mirror = os.path.join(workdir, os.path.relpath(real, os.path.realpath(cover)))
        os.makedirs(mirror, 0o755, exist_ok=True)
        _mount(real, mirror, None, _MS_BIND | _MS_REC)
        _mount("none", mirror, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY)


def confine(workdir: str, uid: int | None, limits: dict[str, int]) -> dict[str, object]:
    """Confine the current process; return what was enforced (strings explain what was not).

    With a mount namespace the private work dir is seen as ``/tmp`` afterwards (the report's
    ``workdir``), so modules needed later must already be imported: the parent's paths under
    /tmp, the lib dir included, are gone from this process's view.
    """
    report: dict[str, object] = {"network_namespace": False, "mount_namespace": False, "uid_dropped": False}
    report["workdir"] = workdir
    is_root = os.geteuid() == 0
    if is_root:
        try:
            _check(_libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            report["network_namespace"] = True
        except OSError as exc:
            report["network_namespace_error"] = str(exc)
        try:
            _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
            _mount("none", "/", None, _MS_REC | _MS_PRIVATE)
            covered = [d for d in ("/var/tmp", "/dev/shm", "/tmp") if os.path.isdir(d)]  # /tmp last: workdir is in it
            needed = [sys.base_prefix, sys.prefix]
            _keep_visible(workdir, covered, needed)
            for shared_tmp in covered:
                _mount(workdir, shared_tmp, None, _MS_BIND | _MS_REC)
            report["workdir"] = "/tmp"
            if uid is not None:
                stage_root = "/tmp/.stage"
                os.mkdir(stage_root)
                _expose_python(stage_root, [p for p in needed if _covering(p, covered) is None])
                os.rmdir(stage_root)
            report["mount_namespace"] = True
        except OSError as exc:
            report["mount_namespace_error"] = str(exc)
    else:
        report["note"] = "not root: network/mount isolation must come from the pod (NetworkPolicy, read-only rootfs)"
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    python_reachable = report["mount_namespace"] or not any(
        _blocked_ancestor(p) for p in (sys.base_prefix, sys.prefix))
    if is_root and uid is not None and not python_reachable:
        report["uid_error"] = "the Python installation is not reachable by an unprivileged uid without a mount namespace"
    elif is_root and uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        report["uid_dropped"] = True
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    report["uid"] = os.getuid()
    return report
