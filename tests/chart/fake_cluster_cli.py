"""A stand-in for kubectl, helm and curl, to run hack/smoke-test.sh here (no cluster can run here).

Called as ``fake_cluster_cli.py PROGRAM ARGS...`` by a wrapper named PROGRAM first on PATH. It answers the smoke test's
calls from a scripted cluster whose run is given as JSON in $FAKE_RUN (status and the phases
of the Jobs it had), applies ``kubectl patch --local --type merge`` for real (RFC 7386), keeps
what ``kubectl apply`` received in $FAKE_APPLIED, and logs every call to $FAKE_LOG.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml


def merge_patch(target: object, patch: object) -> object:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def kubectl(args: list[str], run: dict) -> int:
    while "-n" in args:  # the namespace does not matter to this cluster of one run
        at = args.index("-n")
        args = args[:at] + args[at + 2:]
    if args[:2] == ["patch", "--local"]:
        document = yaml.safe_load(Path(option(args, "-f")).read_text())
        print(yaml.safe_dump(merge_patch(document, json.loads(option(args, "-p")))))
    elif args[0] == "apply":
        text = sys.stdin.read()
        if "CoevolutionRun" in text:
            Path(os.environ["FAKE_APPLIED"]).write_text(text)
    elif args[0] == "get" and args[1] == "coevolutionrun":
        path = option(args, "-o").removeprefix("jsonpath=").strip("{}").removeprefix(".")
        value: object = run
        for key in path.split("."):
            value = value.get(key, "") if isinstance(value, dict) else ""
        print(value, end="")
    elif args[0] == "get" and args[1] == "jobs":
        print("" if "status.failed" in " ".join(args) else "\n".join(run["jobPhases"]))
    elif args[0] == "get" and args[1] == "pvc":
        print("Bound", end="")
    elif args[0] == "get" and args[1] == "service":
        print("service/acdc-acdc-operator\nservice/acdc-acdc-operator-metrics")
    elif args[0] == "config" and args[1] == "current-context":
        print("fake")
    elif args[0] == "port-forward":
        time.sleep(30)
    elif args[0] == "create":
        print("apiVersion: v1\nkind: Namespace")
    return 0


def curl(run: dict) -> int:
    name = run["metadata"]["name"]
    phase = run["status"]["phase"]
    print(f'acdc_run_generation{{namespace="acdc-smoke",run="{name}"}} {run["status"]["generation"]}\n'
          f'acdc_archive_size{{namespace="acdc-smoke",run="{name}"}} {run["status"]["archive"]["size"]}\n'
          f'acdc_steps_total{{namespace="acdc-smoke",phase="merge",run="{name}",status="succeeded"}} 4.0\n'
          f'acdc_run_phase{{namespace="acdc-smoke",phase="{phase}",run="{name}"}} 1.0')
    return 0


def main() -> int:
    program, args = sys.argv[1], sys.argv[2:]
    with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps([program, *args]) + "\n")
    run = json.loads(os.environ["FAKE_RUN"])
    if program == "kubectl":
        return kubectl(args, run)
    if program == "curl":
        return curl(run)
    return 0  # helm: install, uninstall


if __name__ == "__main__":
    sys.exit(main())
