"""Which ``vllm serve`` flags a run's ``deploy.extraArgs`` may pass.

``extraArgs`` is free-form so users can tune vLLM without a new operator release, but a
few flags turn "serve this model" into "run this code" or "read this file" inside a pod
that holds a GPU, or move the server off the address its NetworkPolicy and Service
guard. Those are refused unless the admin allows them by name (chart value
``security.allowedServerArgs``); the flags the operator sets itself are never
overridable. vLLM's parser takes ``--a_b`` for ``--a-b``, ``--flag=value``,
``--config.key`` for a JSON field, and argparse accepts any unambiguous prefix, so each
argument is normalised before it is compared.
"""

from __future__ import annotations

from collections.abc import Iterable

RESERVED: dict[str, str] = {
    "--model": "the operator sets the model from deploy.model",
    "--served-model-name": "phase Jobs call the model by the name the operator sets",
    "--host": "the Service and NetworkPolicy guard the address the operator sets",
    "--port": "the Service and NetworkPolicy guard the port the operator sets",
    "--uds": "the Service and NetworkPolicy guard the port the operator sets",
    "--tensor-parallel-size": "set deploy.tensorParallel instead",
    "-tp": "set deploy.tensorParallel instead",
}
"""Set by the operator from the spec; an admin cannot allow these."""

DANGEROUS: dict[str, str] = {
    "--trust-remote-code": "runs Python code shipped with the model repository",
    "--tool-parser-plugin": "imports a Python file",
    "--reasoning-parser-plugin": "imports a Python file",
    "--middleware": "imports Python objects into the API server",
    "--worker-cls": "imports a Python class",
    "--worker-extension-cls": "imports a Python class",
    "--logits-processors": "imports Python classes",
    "--distributed-executor-backend": "accepts a Python class to import",
    "--kv-transfer-config": "can import a connector module",
    "--allowed-local-media-path": "lets requests read files of the pod",
    "--config": "reads further arguments from a file, past this check",
}
"""Refused unless the admin allows them by name."""


def flag_name(arg: str) -> str | None:
    """``--trust_remote_code=1`` -> ``--trust-remote-code``; None for a value (no leading dash)."""
    if not arg.startswith("-") or arg == "-" or arg[1:2].isdigit():
        return None
    name = arg.split("=", 1)[0]
    dashes = len(name) - len(name.lstrip("-"))
    body = name[dashes:].split(".", 1)[0]
    return name[:dashes] + body.replace("_", "-")


def _matches(name: str, flag: str) -> bool:
    """``name`` selects ``flag``: equal, or an abbreviation argparse would expand to it."""
    return name == flag or (name.startswith("--") and len(name) > 2 and flag.startswith(name))


def refused_args(args: Iterable[str], allowed: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(argument, why) for each argument of ``args`` that names a reserved or disallowed flag."""
    permitted = {flag_name(flag) or flag for flag in allowed}
    out = []
    for arg in args:
        name = flag_name(arg)
        if name is None:
            continue
        reserved = next((why for flag, why in RESERVED.items() if _matches(name, flag)), None)
        if reserved is not None:
            out.append((arg, reserved))
            continue
        for flag, why in DANGEROUS.items():
            if _matches(name, flag) and flag not in permitted:
                out.append((arg, f"{why} (the admin can allow {flag})"))
                break
    return out
