"""Merge throughput (bytes of parent weights read per second) next to a plain file copy.

For each crossover method, ``make_child`` merges two parents (plus a base where the
method needs one) and the figure is (bytes of input safetensors) / seconds. The
baseline is ``shutil.copyfile`` of the same safetensors files on the same disk, i.e. the
best a merge that only streams its inputs could do. Runs on the cached toy world and on
a synthetic Llama of a few hundred MB (``--big-mb``, 0 to skip).

    python bench/bench_merge.py [--big-mb 200] [--repeats 3] [--device auto] [--world DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from acdc.models.crossover import CROSSOVERS
from acdc.models.merge import ChildRecipe, Operator, make_child
from acdc.toyworld.store import ensure_built


def _weight_bytes(model_dir: Path) -> int:
    return sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))


def _best_seconds(action, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def _synthetic_family(root: Path, size_mb: int, toy_base: Path) -> tuple[Path, Path, Path]:
    """A base and two lightly perturbed fine-tunes of a Llama of about ``size_mb`` MB (fp32)."""
    hidden = 512
    layers = max(1, int(size_mb * 2**20 / 4 / (16 * hidden * hidden)))
    config = LlamaConfig(
        vocab_size=320,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=8,
        num_key_value_heads=8,
        head_dim=64,
    )
    generator = torch.Generator().manual_seed(0)
    dirs = []
    model = LlamaForCausalLM(config)
    for name in ("base", "a", "b"):
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn(param.shape, generator=generator) * 0.01)
        model.save_pretrained(root / name)
        for tok_file in toy_base.glob("tokenizer*"):
            shutil.copy2(tok_file, root / name / tok_file.name)
        dirs.append(root / name)
    return dirs[0], dirs[1], dirs[2]


def bench_family(label: str, base: Path, a: Path, b: Path, scratch: Path, repeats: int, device: str) -> None:
    files = [p for d in (a, b) for p in sorted(d.glob("*.safetensors"))]
    copy_bytes = sum(p.stat().st_size for p in files)

    def plain_copy() -> None:
        for index, path in enumerate(files):
            shutil.copyfile(path, scratch / f"copy-{index}.safetensors")

    copy_s = _best_seconds(plain_copy, repeats)
    print(
        f"[{label}] parents {copy_bytes / 2**20:.1f} MiB; plain copy of the same files: "
        f"{copy_bytes / copy_s / 2**20:8.1f} MiB/s (baseline)"
    )
    for method in sorted(CROSSOVERS):
        recipe = ChildRecipe(parents=(str(a), str(b)), base_model=str(base), crossover=Operator(method), seed=1)
        input_bytes = copy_bytes + (_weight_bytes(base) if method != "linear" else 0)
        seconds = _best_seconds(lambda r=recipe: make_child(r, scratch / "child", device=device), repeats)
        print(
            f"[{label}] {method:>16}: {input_bytes / seconds / 2**20:8.1f} MiB/s of inputs "
            f"({seconds:.2f}s; {copy_s / seconds * input_bytes / copy_bytes:.2f}x copy speed)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--world", type=Path, default=None, help="a built toy world (default: the cached one)")
    args = parser.parse_args()
    world = args.world or ensure_built()
    with tempfile.TemporaryDirectory(dir=world.parent) as tmp:
        scratch = Path(tmp)
        bench_family("toy", world / "base", world / "arithmetic", world / "lists", scratch, args.repeats, args.device)
        if args.big_mb:
            base, a, b = _synthetic_family(scratch / "synthetic", args.big_mb, world / "base")
            bench_family(f"synthetic {args.big_mb}MB", base, a, b, scratch, args.repeats, args.device)


if __name__ == "__main__":
    main()
