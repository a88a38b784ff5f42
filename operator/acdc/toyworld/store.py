"""Where the toy world lives: shipped inside the package, else built once into a cache.

The world the current recipe describes is committed under ``shipped/`` (tokenizer, four
models in safetensors, ``world.json``), so a fresh ``acdc run`` or test session loads it
instead of training for an hour. ``ensure_built`` returns that directory when its recorded
hash is the code's own ``world_hash``; when the recipe or the code that trains it changed
and nobody rebuilt the shipped copy, it builds the world into ``$ACDC_CACHE/toyworld/<hash>``
instead (and a fast test fails, so the stale copy is not committed by accident).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from acdc.atomic import read_json
from acdc.toyworld.build import WORLD_FILE, WorldRecipe, build_world, world_hash

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).parent / "shipped"


def shipped_hash() -> str | None:
    """The recipe hash the packaged world was built from (None when no world is packaged)."""
    path = SHIPPED_DIR / WORLD_FILE
    return str(read_json(path)["hash"]) if path.is_file() else None


def default_cache_root() -> Path:
    return Path(os.environ.get("ACDC_CACHE") or Path.home() / ".cache" / "acdc")


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise builders of the same world across processes (pytest workers, CLI)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_built(cache_root: Path | str | None = None, recipe: WorldRecipe | None = None,
                 shipped: Path | None = SHIPPED_DIR) -> Path:
    """The toy world for ``recipe`` (default: the code's): the packaged one when it matches,
    else the cached build. ``shipped=None`` skips the packaged copy (to test the cache path).
    """
    recipe = recipe or WorldRecipe()
    digest = world_hash(recipe)
    if shipped is not None and (shipped / WORLD_FILE).is_file() and load_world(shipped)["hash"] == digest:
        return shipped
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    target = root / "toyworld" / digest
    with _exclusive(root / "toyworld" / f".{digest}.lock"):
        if not (target / WORLD_FILE).is_file():
            log.info("building the toy world into %s: the packaged world is for another recipe; "
                     "once, then cached (about an hour on one core)", target)
            build_world(target, recipe)
    return target


def load_world(world_dir: Path | str) -> dict[str, Any]:
    """world.json of a built toy world (raises StateError naming the file when missing)."""
    world: dict[str, Any] = read_json(Path(world_dir) / WORLD_FILE)
    return world
