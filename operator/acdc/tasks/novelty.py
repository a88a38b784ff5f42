"""Novelty filter: is a proposed task different enough from every task seen before?

Every accepted task's card is embedded and kept in a historical store (one matrix of
unit rows + an index file), so a check is one matrix-vector product instead of the
reference's per-task file scan. Neighbours at or above ``threshold`` cosine similarity make
a task a near duplicate; with an LLM check configured, the scientist then decides whether
it is still "interestingly new" given those neighbours (the reference's hard filter).

Store layout in ``store_dir``: ``embeddings.npy`` (n x d float32) and ``ids.json``
(``{"embedder", "ids", "texts"}``). The store is append-only and written matrix first,
index second, each atomically; a crash between the two leaves extra matrix rows that the
next load ignores, so the pair is always consistent. One writer at a time (the tasks phase).
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acdc.atomic import RefusedFile, open_regular, read_json, write_bytes, write_json
from acdc.engine.state import envelope
from acdc.errors import StateError, UserError
from acdc.llm_client import LLMError, OpenAIClient, endpoint_answers_or_fault
from acdc.tasks.embedders import Embedder
from acdc.tasks.format import TaskCard

log = logging.getLogger(__name__)

MATRIX_FILE = "embeddings.npy"
INDEX_FILE = "ids.json"
MAX_MATRIX_BYTES = 2**30
"""The largest embedding matrix a load reads: 65,536 tasks at 4,096 dimensions, far past the
tasks a run makes; a bigger file (a planted sparse file) is damage."""


@dataclass(frozen=True)
class Neighbour:
    """An earlier task close to the candidate: its id, cosine similarity and embedded text."""

    task_id: str
    similarity: float
    text: str


LLMCheck = Callable[[TaskCard, Sequence[Neighbour]], "bool | None"]
"""Decides whether a task with near neighbours is still interestingly new (None: no verdict)."""


@dataclass(frozen=True)
class NoveltyVerdict:
    novel: bool
    neighbours: list[tuple[str, float]] = field(default_factory=list)
    reason: str = ""


def _read_matrix(path: Path) -> np.ndarray:
    """The stored embedding matrix, read only once its file and header show what ``add`` writes:
    a float32 matrix whose rows fill the file, of at most ``MAX_MATRIX_BYTES``. So a FIFO, a
    device, a huge file or a header promising more than the file holds is a StateError, never
    a hang or a full memory; ``allow_pickle=False``: the file runs no code."""
    try:
        with open_regular(path, MAX_MATRIX_BYTES) as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(handle)
            data_bytes = os.fstat(handle.fileno()).st_size - handle.tell()
            if len(shape) != 2 or dtype != np.float32 or shape[0] * shape[1] * dtype.itemsize != data_bytes:
                raise StateError(path, f"embedding matrix of shape {shape} and type {dtype} in {data_bytes} bytes "
                                       "(a float32 matrix that fills the file was stored)")
            handle.seek(0)
            matrix: np.ndarray = np.load(handle, allow_pickle=False)
            return matrix
    except (OSError, ValueError, EOFError, RefusedFile) as exc:
        raise StateError(path, f"cannot read the embedding matrix ({exc})") from exc


class NoveltyFilter:
    """Checks cards against, and adds them to, the historical store in ``store_dir``."""

    def __init__(self, store_dir: Path, embedder: Embedder, threshold: float = 0.7,
                 llm_check: LLMCheck | None = None, max_neighbours: int = 3) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise UserError(f"novelty similarity threshold must be within [0, 1], got {threshold}")
        self.store_dir = Path(store_dir)
        self.embedder = embedder
        self.threshold = threshold
        self.llm_check = llm_check
        self.max_neighbours = max_neighbours
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._load()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._ids

    def _load(self) -> None:
        index_path = self.store_dir / INDEX_FILE
        if not index_path.exists():
            return
        index = read_json(index_path)
        if index.get("embedder") != self.embedder.name:
            raise UserError(f"{self.store_dir}: the novelty store was built with embedder "
                            f"{index.get('embedder')!r}, not {self.embedder.name!r}; use a new store "
                            "directory when changing the embedding model")
        ids, texts = list(index["ids"]), list(index["texts"])
        matrix = _read_matrix(self.store_dir / MATRIX_FILE)
        if matrix.ndim != 2 or len(matrix) < len(ids) or len(texts) != len(ids):
            raise StateError(index_path, f"index lists {len(ids)} tasks but the matrix has shape {matrix.shape}")
        self._ids, self._texts, self._matrix = ids, texts, matrix[:len(ids)].astype(np.float32)

    def neighbours(self, card: TaskCard) -> list[Neighbour]:
        """The ``max_neighbours`` most similar stored tasks, most similar first."""
        if not self._ids:
            return []
        vector = self.embedder.embed([card.embedding_text()])[0]
        similarities = self._matrix @ vector
        top = np.argsort(-similarities, kind="stable")[:self.max_neighbours]
        return [Neighbour(self._ids[i], float(similarities[i]), self._texts[i]) for i in top]

    def check(self, card: TaskCard) -> NoveltyVerdict:
        """Novel when no stored task reaches the threshold, or when the LLM check says so."""
        try:
            found = self.neighbours(card)
        except LLMError as exc:  # an endpoint down would reject every task: EndpointDown instead
            endpoint_answers_or_fault("embedding", exc, lambda: self.embedder.embed(["novelty probe"]))
            log.warning("embedding endpoint refused this task's card, treating it as not novel: %s", exc)
            return NoveltyVerdict(False, [], f"embedding refused: {exc}")
        pairs = [(n.task_id, round(n.similarity, 4)) for n in found]
        near = [n for n in found if n.similarity >= self.threshold]
        if not near:
            best = f"{found[0].similarity:.3f}" if found else "none"
            return NoveltyVerdict(True, pairs, f"no earlier task reaches similarity {self.threshold} (max {best})")
        closest = f"{near[0].task_id} ({near[0].similarity:.3f})"
        if self.llm_check is None:
            return NoveltyVerdict(False, pairs, f"near duplicate of {closest}")
        verdict = self.llm_check(card, near)
        if verdict is None:
            return NoveltyVerdict(False, pairs, f"LLM novelty check gave no verdict; near {closest}")
        if verdict:
            return NoveltyVerdict(True, pairs, f"LLM judged it interestingly new despite {closest}")
        return NoveltyVerdict(False, pairs, f"LLM judged it not interestingly new next to {closest}")

    def forget(self, task_ids: Collection[str]) -> None:
        """Drop the newest entries, those of ``task_ids`` (what an interrupted attempt of the
        step now retried added). Only the index is rewritten: a matrix row past the index's
        ids is ignored on load, and the next ``add`` rewrites the matrix from memory."""
        drop = set(task_ids) & set(self._ids)
        if not drop:
            return
        keep = len(self._ids) - len(drop)
        if drop != set(self._ids[keep:]):
            raise StateError(self.store_dir / INDEX_FILE, "only the newest novelty entries can be forgotten")
        write_json(self.store_dir / INDEX_FILE, envelope("novelty-index", None, {
            "embedder": self.embedder.name, "ids": self._ids[:keep], "texts": self._texts[:keep]}))
        self._ids, self._texts, self._matrix = self._ids[:keep], self._texts[:keep], self._matrix[:keep]

    def add(self, task_id: str, card: TaskCard) -> None:
        """Append a task to the store (idempotent: an id already present is left as it is)."""
        if task_id in self._ids:
            return
        text = card.embedding_text()
        vector = self.embedder.embed([text])
        matrix = vector if not self._ids else np.vstack([self._matrix, vector])
        buffer = io.BytesIO()
        np.save(buffer, matrix.astype(np.float32), allow_pickle=False)
        write_bytes(self.store_dir / MATRIX_FILE, buffer.getvalue())
        write_json(self.store_dir / INDEX_FILE, envelope("novelty-index", None, {
            "embedder": self.embedder.name, "ids": self._ids + [task_id], "texts": self._texts + [text]}))
        self._ids, self._texts, self._matrix = self._ids + [task_id], self._texts + [text], matrix


_SYSTEM = ("You curate a collection of tasks for evaluating language models and decide whether a new "
           "task adds something. Compare its subject, the capability it measures, its difficulty and its "
           "format with the closest existing tasks. Explain briefly after 'THOUGHT:', then end with "
           "'Decision: Yes' if it is interestingly new or 'Decision: No' if it mostly repeats them.")
# \W* covers the colon: "\W*:?\W*" matched a run of separators two ways and backtracked quadratically.
_DECISION = re.compile(r"decision\W*(yes|no)\b", re.IGNORECASE)
_BARE = re.compile(r"^\W*(yes|no)\W*$", re.IGNORECASE)


def parse_yes_no(text: str) -> bool | None:
    """The last 'Decision: Yes/No' in the text, or a bare Yes/No reply; None otherwise."""
    found: list[str] = _DECISION.findall(text or "")
    if found:
        return found[-1].lower() == "yes"
    bare = _BARE.match(text or "")
    return bare.group(1).lower() == "yes" if bare else None


class InterestinglyNewCheck:
    """The optional LLM check, asked through the scientist's endpoint. A request the endpoint
    refuses and a reply without a decision give no verdict (the filter then rejects the task);
    an endpoint that answers nothing raises ``EndpointDown``."""

    def __init__(self, client: OpenAIClient, temperature: float = 0.0, max_tokens: int = 512) -> None:
        self.client = client
        self.temperature = temperature
        self.max_tokens = max_tokens

    def __call__(self, card: TaskCard, neighbours: Sequence[Neighbour]) -> bool | None:
        existing = "\n\n".join(f"EXISTING TASK {i + 1} (similarity {n.similarity:.2f}):\n{n.text}"
                               for i, n in enumerate(neighbours))
        user = f"NEW TASK:\n{card.embedding_text()}\n\n{existing or 'No existing task is close.'}\n\n" \
               "Is the new task interestingly new?"
        reply = self.client.verdict_chat("novelty check", [{"role": "system", "content": _SYSTEM},
                                                           {"role": "user", "content": user}],
                                         temperature=self.temperature, max_tokens=self.max_tokens)
        if reply is None:
            return None
        verdict = parse_yes_no(reply)
        if verdict is None:
            log.warning("novelty check reply has no Yes/No decision: %r", reply[:200])
        return verdict
