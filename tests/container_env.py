"""Run a phase Job's command with the environment its container would have, not the test's.

A pod's environment is the image's ``ENV`` (from its Dockerfile) overlaid by the Job's
``env``/``envFrom``, with Secret and ConfigMap references resolved by the kubelet. The test
process's own variables (a developer's HF_TOKEN, a missing HF_HUB_OFFLINE) must not leak in,
or a test passes here and the same Job fails in the cluster. Paths inside the container
(``/venv``, the ``/state`` volume, the spec ConfigMap at ``/etc/acdc``, ``/tmp``) are mapped
onto folders of this machine; everything else comes from the two manifests.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acdc.controller.job_manifest import SPEC_DIR, STATE_MOUNT, TERMINATION_LOG
from tests.progress import run_progressing

# What Docker gives a container before any ENV (the base images here add nothing we rely on).
DOCKER_DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
IMAGE_VENV = "/venv"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final build stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            out = []  # a new stage: only the last one is the image
        out.append((word.upper(), rest.strip()))
    return out


def _expand(value: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], ""), value)


def image_env(dockerfile: Path) -> dict[str, str]:
    """The environment the image's final stage defines (``ENV`` in both of its forms)."""
    env = dict(DOCKER_DEFAULT_ENV)
    for word, rest in _instructions(dockerfile):
        if word != "ENV":
            continue
        if "=" not in rest.split()[0]:  # legacy form: ENV KEY value with spaces
            key, _, value = rest.partition(" ")
            env[key] = _expand(value.strip(), env)
            continue
        updates = {}
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            updates[key] = _expand(value, env)  # every item sees the values before this ENV line
        env.update(updates)
    return env


def image_workdir(dockerfile: Path) -> str:
    return next((rest for word, rest in reversed(_instructions(dockerfile)) if word == "WORKDIR"), "/")


@dataclass
class Cluster:
    """The Secrets and ConfigMaps the kubelet would resolve references against, and the
    Services a pod reaches by name.

    ``services`` maps a Service's in-cluster base URL (``http://NAME.NAMESPACE.svc:PORT``)
    to the local server standing in for it: with no cluster DNS here, the URL is rewritten
    where the pod would read it (the mounted spec), which is what DNS plus the Service's
    routing would do to the same request.
    """

    secrets: dict[str, dict[str, str]]
    configmaps: dict[str, dict[str, str]]
    services: dict[str, str] = field(default_factory=dict)

    def resolve_services(self, text: str) -> str:
        for inside, outside in self.services.items():
            text = text.replace(inside, outside)
        return text

    def value_from(self, source: Mapping[str, Any]) -> str:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            store, kind = self.secrets, "Secret"
        else:
            ref = source["configMapKeyRef"]
            store, kind = self.configmaps, "ConfigMap"
        try:
            return store[ref["name"]][ref["key"]]
        except KeyError as exc:  # the kubelet refuses to start such a pod
            raise AssertionError(f"CreateContainerConfigError: {kind} {ref['name']}/{ref['key']} not found") from exc

    def env_from(self, source: Mapping[str, Any]) -> dict[str, str]:
        if "secretRef" in source:
            return dict(self.secrets[source["secretRef"]["name"]])
        return dict(self.configmaps[source["configMapRef"]["name"]])


@dataclass
class Sandbox:
    """Folders of this machine standing in for one pod's filesystem.

    ``volume`` is the run's PVC: pods of one run share it (default: a folder of this pod),
    while each pod has its own /tmp, spec mount and termination log.
    """

    root: Path
    volume: Path | None = None

    def __post_init__(self) -> None:
        for name in ("spec", "tmp", "dev"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        # The kubelet creates the termination log before the container starts and bind-mounts
        # that one file into the runtime's /dev: the container writes into it, and the kubelet
        # reads its own file back. A hard link stands in for the mount: a file renamed over the
        # container's path (an atomic write) leaves the kubelet's copy as it was, as in a pod.
        self.kubelet_termination_log.touch()
        if not self.termination_log.exists():
            os.link(self.kubelet_termination_log, self.termination_log)

    @property
    def state(self) -> Path:
        return self.volume if self.volume is not None else self.root / "state"

    @property
    def termination_log(self) -> Path:
        """The path the container writes (``TERMINATION_LOG``)."""
        return self.root / "dev" / "termination-log"

    @property
    def kubelet_termination_log(self) -> Path:
        """The file the kubelet reads the termination message from once the container ends."""
        return self.root / "termination-log"

    def mapping(self) -> list[tuple[str, str]]:
        return [(IMAGE_VENV, sys.prefix), (STATE_MOUNT, str(self.state)), (SPEC_DIR, str(self.root / "spec")),
                ("/tmp", str(self.root / "tmp")), (TERMINATION_LOG, str(self.termination_log))]

    def host_path(self, value: str) -> str:
        """``value`` with every container path prefix replaced (in PATH-like lists too)."""
        parts = []
        for part in value.split(":"):
            for inside, outside in self.mapping():
                if part == inside or part.startswith(inside + "/"):
                    part = outside + part[len(inside):]
                    break
            parts.append(part)
        return ":".join(parts)


def container_env(dockerfile: Path, container: Mapping[str, Any], cluster: Cluster) -> dict[str, str]:
    """Image ENV, then the container's envFrom, then its env (the kubelet's order of precedence)."""
    env = image_env(dockerfile)
    for source in container.get("envFrom", []):
        env.update(cluster.env_from(source))
    for entry in container.get("env", []):
        env[entry["name"]] = entry["value"] if "value" in entry else cluster.value_from(entry["valueFrom"])
    return env


def run_job(job: Mapping[str, Any], spec_configmap: Mapping[str, Any], dockerfile: Path, cluster: Cluster,
            sandbox: Sandbox):
    """Run the Job's container command here, as its pod would: returns the CompletedProcess."""
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for name, text in spec_configmap["data"].items():
        (sandbox.root / "spec" / name).write_text(cluster.resolve_services(text), encoding="utf-8")
    env = {key: sandbox.host_path(value) for key, value in container_env(dockerfile, container, cluster).items()}
    argv = [sandbox.host_path(arg) for arg in container["command"]]
    cwd = Path(sandbox.host_path(image_workdir(dockerfile)))
    return run_progressing(argv, env=env, cwd=cwd, watch=[sandbox.state])


def terminated_pod(result: subprocess.CompletedProcess[str], sandbox: Sandbox) -> dict[str, Any]:
    """The pod status the kubelet reports after the container exits: exit code and the
    termination message (the phase's record) that the operator reads (``job_outcome``)."""
    terminated: dict[str, Any] = {"exitCode": result.returncode}
    message = sandbox.kubelet_termination_log.read_text(encoding="utf-8")
    if message:
        terminated["message"] = message
    return {"status": {"containerStatuses": [{"name": "phase", "state": {"terminated": terminated}}]}}
