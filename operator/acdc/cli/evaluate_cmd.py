"""`acdc evaluate DIR`: benchmark a run's archive with lm-evaluation-harness (coverage@N, best-of-N).

Sharded and resumable: each (benchmark, model, variant, shard) writes its per-sample log
once it is complete, and a rerun skips the logs that exist, so a killed evaluation goes on
where it stopped. The operator runs the same command in its evaluation Jobs: ``--plan``
(reports the shard count), ``--shard-index I`` (one shard per Job), then the summary.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acdc.cli.arguments import output_file


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("evaluate", help="benchmark the archive (lm-eval): coverage@N, best-of-N, diversity")
    parser.add_argument("state", type=Path, help="the run's state folder")
    parser.add_argument("--run", type=Path, default=None, help="spec file to use instead of STATE/run.yaml")
    parser.add_argument("--shard", action="append", default=None, metavar="NAME",
                        help="evaluate only this shard (TASK/MODEL/VARIANT/KofS, see --plan); repeatable")
    parser.add_argument("--shard-index", type=int, default=None, metavar="I",
                        help="evaluate only the I-th shard of the plan (one evaluation Job each)")
    parser.add_argument("--plan", action="store_true", help="choose the models, list the shards and exit")
    parser.add_argument("--prefetch", action="store_true",
                        help="download every benchmark's dataset into spec.evaluation.datasetCache and exit (needs network)")
    parser.add_argument("--no-summary", action="store_true", help="only run shards; do not compute the results")
    parser.add_argument("--report", action="store_true", help="write STATE/report.html after the summary")
    parser.add_argument("--device", default="cpu", type=_device, help="cpu (default), cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1)")
    parser.add_argument("--termination-log", type=output_file, default=None,
                        help="write a small JSON result here (the Job's termination message)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(handler=handle_evaluate)


def handle_evaluate(args: argparse.Namespace) -> int:
    from acdc.atomic import write_termination_log
    from acdc.errors import UserError
    from acdc.evaluation.pipeline import apply_offline, evaluate_run, open_evaluation, prepare
    from acdc.evaluation.plan import plan_shards
    from acdc.evaluation.results import render_headline
    from acdc.evaluation.samples import is_done
    from acdc.runner.pool import pin_threads

    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    snapshot = open_evaluation(args.state, args.run)
    pin_threads(args.threads)
    if args.prefetch:
        from acdc.evaluation.pipeline import dataset_cache, harness_config
        from acdc.evaluation.prefetch import prefetch_tasks

        prepare(snapshot)
        spec = snapshot.run.spec
        counts = prefetch_tasks({b.task: harness_config(args.state, spec, b) for b in spec.evaluation.benchmarks},
                                dataset_cache(snapshot))
        for task, documents in counts.items():
            print(f"prefetched {task}: {documents} documents")
        report: dict[str, object] = {"prefetched": counts}
    elif args.plan:
        planned = plan_shards(snapshot.run.spec.evaluation, prepare(snapshot))
        for index, shard in enumerate(planned):
            print(f"{index:>4} {'done   ' if is_done(args.state, shard) else 'pending'} {shard.name}")
        report = {"shards": len(planned)}
    else:
        apply_offline(snapshot)
        results = evaluate_run(snapshot, device=args.device, shards=args.shard, shard_index=args.shard_index,
                               summary=not args.no_summary)
        if results is None:
            print("evaluation: shards run; results not computed yet (other shards are missing or --no-summary)")
        elif args.json:
            print(json.dumps(results, indent=2))
        else:
            print(render_headline(results.get("headline")))
        report = {"headline": results.get("headline")} if results else {}
        if results is not None and args.report:
            from acdc.report import build_report

            print(f"report: {build_report(args.state, heldout=False).resolve()}")
    if args.termination_log is not None:
        write_termination_log(args.termination_log, json.dumps(report))
    return 0


def _device(text: str) -> str:
    """A torch device this build can use, checked before any model loads (lm-eval would fall
    back to the CPU without a word for a name it does not know, or fail deep inside on CUDA)."""
    if text == "cpu":
        return text
    if text != "cuda" and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise argparse.ArgumentTypeError(f"not a device: {text!r} (cpu, cuda or cuda:N)")
    import torch

    if not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: this machine's torch has no CUDA device")
    return text
