"""The toy world: procedural skills and the tiny base and specialist models built from them.

``ensure_built`` is imported lazily so that ``acdc.toyworld.skills`` (used by the task
families) does not pull in torch.
"""

from __future__ import annotations

from pathlib import Path


def ensure_built(cache_root: Path | str | None = None) -> Path:
    """Return the cached toy-world directory, the packaged one, or built into the cache first (see store.py)."""
    from acdc.toyworld.store import ensure_built as _ensure_built

    return _ensure_built(cache_root)


__all__ = ["ensure_built"]
