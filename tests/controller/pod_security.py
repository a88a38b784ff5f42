"""Kubernetes' "restricted" Pod Security Standard, as a check the manifest tests share.

The admission controller enforces it per namespace (pod-security.kubernetes.io/enforce);
a namespace set to restricted must accept every pod the operator and the chart make.
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What in ``pod`` (a PodSpec) the restricted profile forbids; empty if it complies."""
    out = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            out.append(host)
    pod_context = pod.get("securityContext") or {}
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            out.append(f"volume {volume['name']}: {sorted(kinds - ALLOWED_VOLUMES)}")
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        context = container.get("securityContext") or {}
        name = container["name"]
        if context.get("privileged"):
            out.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in capabilities.get("drop", []):
            out.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: adds capabilities {capabilities['add']}")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            out.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            out.append(f"{name}: runs as uid 0")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccompProfile is {seccomp}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            out.append(f"{name}: hostPort")
    return out


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions) selects ``labels``."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {"Exists": present, "DoesNotExist": not present, "In": present and labels[key] in values,
                "NotIn": not present or labels[key] not in values}[operator]:
            return False
    return True
