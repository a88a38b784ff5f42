"""Benchmark evaluation cost per model on the toy world: lm-eval (batched) vs a plain loop.

``acdc evaluate`` grades every model through lm-evaluation-harness's Hugging Face backend
with batched generation. The baseline is what a user would otherwise write: load the
model with transformers and generate one prompt at a time (unbatched, greedy, the same
chat template and token budget), then check each answer with the toy world's checker.
Both grade the same documents (the toy world's held-out split as the ``acdc_toyworld``
task) on one thread; the figures are seconds per model (model load included) and their
ratio, and both must agree on every document's correctness.

    python bench/bench_evaluation.py [--models base,arithmetic] [--per-level 4] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from acdc.evaluation.harness import HarnessConfig, load_task, run_shard  # noqa: E402
from acdc.evaluation.samples import Shard  # noqa: E402
from acdc.evaluation.toyworld_task import TASK_NAME, documents, write_task_dir  # noqa: E402
from acdc.runner.pool import pin_threads  # noqa: E402
from acdc.toyworld.build import ensure_built  # noqa: E402
from acdc.toyworld.skills import check  # noqa: E402

MAX_TOKENS = 32


def plain_loop(model_dir: Path, docs: list[dict]) -> list[bool]:
    """One prompt at a time through transformers' generate (the unbatched baseline)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    correct = []
    for doc in docs:
        text = tokenizer.apply_chat_template([{"role": "user", "content": doc["prompt"]}], add_generation_prompt=True,
                                             tokenize=False)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=MAX_TOKENS, do_sample=False,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        answer = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        correct.append(check(doc["answer"], answer))
    return correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="base,arithmetic")
    parser.add_argument("--per-level", type=int, default=4, help="held-out documents per skill and difficulty")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    pin_threads(1)
    world = ensure_built()
    docs = documents(args.seed, args.per_level)
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_task_dir(Path(scratch) / "task", args.seed, args.per_level, MAX_TOKENS)
        config = HarnessConfig(include_path=folder, batch_size=args.batch_size)
        load_task(TASK_NAME, config)  # index the task once, as one evaluation process does
        print(f"{len(docs)} documents per model (acdc_toyworld), batch size {args.batch_size}, 1 thread")
        for name in args.models.split(","):
            started = time.perf_counter()
            samples = run_shard(Shard(TASK_NAME, name, "greedy", 0, 1), str(world / name), config)
            harness = time.perf_counter() - started
            started = time.perf_counter()
            baseline = plain_loop(world / name, docs)
            plain = time.perf_counter() - started
            agree = sum(s.correct == b for s, b in zip(samples, baseline, strict=True))
            print(f"  {name:>11}: lm-eval batched {harness:6.2f} s   plain unbatched loop {plain:6.2f} s   "
                  f"speed-up x{plain / harness:.2f}   accuracy {sum(baseline) / len(docs):.3f}   "
                  f"agree on {agree}/{len(docs)}")


if __name__ == "__main__":
    main()
