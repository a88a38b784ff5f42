"""`acdc evaluate DIR`: benchmark a run's archive with lm-evaluation-harness (coverage@N, best-of-N).

Sharded and resumable: each (benchmark, model, variant, shard) writes its per-sample log
once it is complete, and a rerun skips the logs that exist, so a killed evaluation goes on
where it stopped. The operator runs one shard per Job (``--shard``) and a final summary.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="benchmark the archive (lm-eval): coverage@N, best-of-N, diversity")
    parser.add_argument("state", type=Path, help="the run's state folder")
    parser.add_argument("--shard", action="append", default=None, metavar="NAME",
                        help="evaluate only this shard (TASK/MODEL/VARIANT/KofS, see --plan); repeatable")
    parser.add_argument("--plan", action="store_true", help="list the shards and whether each is done, then exit")
    parser.add_argument("--no-summary", action="store_true", help="only run shards; do not compute the results")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(handler=handle_evaluate)


def handle_evaluate(args: argparse.Namespace) -> int:
    from acdc.errors import UserError
    from acdc.evaluation.harness import pin_threads

    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    pin_threads(args.threads)
    if args.plan:
        return _print_plan(args.state)
    from acdc.evaluation.pipeline import apply_offline, evaluate_run
    from acdc.evaluation.results import render_headline

    apply_offline(args.state)
    results = evaluate_run(args.state, device=args.device, shards=args.shard, summary=not args.no_summary)
    if results is None:
        print("evaluation: shards run; results not computed yet (other shards are missing or --no-summary)")
    elif args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render_headline(results.get("headline")))
    return 0


def _print_plan(state: Path) -> int:
    from acdc.evaluation.pipeline import prepare
    from acdc.evaluation.plan import plan_shards
    from acdc.evaluation.samples import is_done
    from acdc.runner.snapshot import open_snapshot

    snapshot = open_snapshot(state)
    snapshot.require_archive()
    for shard in plan_shards(snapshot.run.spec.evaluation, prepare(snapshot)):
        print(f"{'done   ' if is_done(state, shard) else 'pending'} {shard.name}")
    return 0
