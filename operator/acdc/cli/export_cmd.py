"""`acdc export STATE`: upload the run's task force to a Hugging Face Hub(-compatible) repo.

The destination is ``spec.evaluation.export`` (from ``--run FILE`` or STATE/run.yaml);
``--repo`` / ``--endpoint`` / ``--size`` override it. The operator runs the same command in
its export Job after evaluation, with the token Secret as HF_TOKEN (``acdc.delivery.export``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acdc.cli.arguments import bounded_int, output_file


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("export", help="upload the task force (models + manifest) to a hub repo")
    parser.add_argument("state", type=Path, help="the run's state folder")
    parser.add_argument("--run", type=Path, default=None, help="spec file to use instead of STATE/run.yaml")
    parser.add_argument("--repo", default=None, help="OWNER/NAME (default: spec.evaluation.export.repo)")
    parser.add_argument("--endpoint", default=None, help="hub URL (default: the spec's, else huggingface.co)")
    parser.add_argument("--size", type=bounded_int(1, 64), default=None, help="task-force size N (default: the spec's)")
    parser.add_argument("--to-dir", type=Path, default=None,
                        help="copy (verified) into this new folder instead of uploading")
    parser.add_argument("--termination-log", type=output_file, default=None, help="write {\"commit\": URL} here")
    parser.set_defaults(handler=handle_export)


def handle_export(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from acdc.atomic import write_termination_log
    from acdc.delivery.export import EXPORT_MOUNT, copy_task_force, upload_task_force
    from acdc.errors import UserError
    from acdc.evaluation.pipeline import open_evaluation
    from acdc.spec.manifest import format_errors
    from acdc.spec.run import ExportSpec

    run = open_evaluation(args.state, args.run).run
    spec = run.spec.evaluation
    fields = spec.export.model_dump(by_alias=True, exclude_none=True) if spec.export else {}
    size = args.size if args.size is not None else fields.get("size") or max(spec.task_force_sizes)
    if args.to_dir is not None:
        destination = str(copy_task_force(args.state, size, args.to_dir))
    else:
        if args.repo:  # the command line's repo replaces the spec's destination
            fields = {k: v for k, v in fields.items() if k not in ("claim", "directory")} | {"repo": args.repo}
        if args.endpoint:
            fields["endpoint"] = args.endpoint
        if not fields.get("repo") and not fields.get("claim"):
            raise UserError("no destination: set spec.evaluation.export or pass --repo OWNER/NAME or --to-dir DIR")
        try:
            export = ExportSpec.model_validate(fields)
        except ValidationError as exc:
            raise UserError(f"bad export destination: {'; '.join(format_errors(exc))[:300]}") from None
        if export.claim is not None:  # the export Job mounts the claim at EXPORT_MOUNT
            destination = str(copy_task_force(args.state, size, EXPORT_MOUNT / (export.directory or run.metadata.name)))
        else:
            destination = upload_task_force(args.state, export, size)
    print(f"exported the task force of {size}: {destination}")
    if args.termination_log is not None:
        write_termination_log(args.termination_log, json.dumps({"commit": destination}))
    return 0
