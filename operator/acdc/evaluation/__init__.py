"""Benchmark evaluation after a run: lm-evaluation-harness over the archive, then coverage@N,
best-of-N and task-pool diversity computed from its per-sample logs on the state volume."""
