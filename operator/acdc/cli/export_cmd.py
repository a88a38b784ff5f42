"""`acdc export STATE`: upload the run's task force to a Hugging Face Hub(-compatible) repo.

The destination is ``spec.evaluation.export`` (from ``--run FILE`` or STATE/run.yaml);
``--repo`` / ``--endpoint`` / ``--size`` override it. The operator runs the same command in
its export Job after evaluation, with the token Secret as HF_TOKEN (``acdc.delivery.export``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("export", help="upload the task force (models + manifest) to a hub repo")
    parser.add_argument("state", type=Path, help="the run's state folder")
    parser.add_argument("--run", type=Path, default=None, help="spec file to use instead of STATE/run.yaml")
    parser.add_argument("--repo", default=None, help="OWNER/NAME (default: spec.evaluation.export.repo)")
    parser.add_argument("--endpoint", default=None, help="hub URL (default: the spec's, else huggingface.co)")
    parser.add_argument("--size", type=int, default=None, help="task-force size N (default: the spec's)")
    parser.add_argument("--termination-log", type=Path, default=None, help="write {\"commit\": URL} here")
    parser.set_defaults(handler=handle_export)


def handle_export(args: argparse.Namespace) -> int:
    from acdc.atomic import write_text
    from acdc.delivery.export import export_task_force
    from acdc.errors import UserError
    from acdc.evaluation.pipeline import open_evaluation
    from acdc.spec.run import ExportSpec

    spec = open_evaluation(args.state, args.run).run.spec.evaluation
    fields = spec.export.model_dump(by_alias=True, exclude_none=True) if spec.export else {}
    fields.update({k: v for k, v in (("repo", args.repo), ("endpoint", args.endpoint), ("size", args.size)) if v})
    if "repo" not in fields:
        raise UserError("no destination: set spec.evaluation.export.repo or pass --repo OWNER/NAME")
    try:
        export = ExportSpec.model_validate(fields)
    except ValueError as exc:
        raise UserError(f"bad export destination: {str(exc).splitlines()[-1].strip()[:200]}") from None
    size = export.size or max(spec.task_force_sizes)
    commit = export_task_force(args.state, export, size)
    print(f"exported the task force of {size} to {export.repo}: {commit}")
    if args.termination_log is not None:
        write_text(args.termination_log, json.dumps({"commit": commit}))
    return 0
