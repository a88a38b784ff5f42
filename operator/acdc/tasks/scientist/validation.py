"""Sandbox validation of a proposed task, and the report the scientist reviews.

A candidate is acceptable only if, run in the sandbox (never in this process), it loads,
produces string instructions, grades the scientist's known-good answer as a success, and
refuses a dummy submission. The last check is one the reference skipped: a task that
credits "dummy validation submission" measures nothing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from acdc.tasks.format import write_task
from acdc.tasks.sandbox import SandboxPool, ScoreItem, ScoreResult
from acdc.tasks.scientist.reply import Proposal

DUMMY_SUBMISSION = "dummy validation submission"


@dataclass(frozen=True)
class Problem:
    """One reason the candidate is not acceptable (code for counters, text for the scientist)."""

    code: str
    message: str


@dataclass(frozen=True)
class ValidationReport:
    """What the sandbox observed; ``problems`` empty means the candidate passes."""

    problems: list[Problem] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
    instructions: str | None = None
    known_result: ScoreResult | None = None
    dummy_result: ScoreResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        """Plain-text summary shown to the scientist in the next review round."""
        lines = []
        if self.instance_ids:
            lines.append(f"The task loaded; get_tasks returned instances {', '.join(self.instance_ids)}.")
            if len(self.instance_ids) != 2:
                lines.append("Note: exactly two instances (\"1\" and \"2\") are expected.")
            lines.append(f"Instructions of the first instance:\n{(self.instructions or '')[:1500]}")
        if self.known_result is not None:
            lines.append(f"Score of your known_good_answer: {_describe(self.known_result)}.")
        if self.dummy_result is not None:
            lines.append(f"Score of the dummy submission {DUMMY_SUBMISSION!r}: {_describe(self.dummy_result)}.")
        if self.problems:
            lines.append("Problems to fix:")
            lines.extend(f"- {p.message}" for p in self.problems)
        else:
            lines.append("No problems found.")
        return "\n".join(lines)


def _describe(result: ScoreResult) -> str:
    if result.score is not None:
        return f"{result.score:g}/1.0"
    return f"no score ({result.kind}: {(result.error or '').strip()[-600:]})"


def validate_proposal(pool: SandboxPool, proposal: Proposal, require_known_answer: bool = True
                      ) -> ValidationReport:
    """Write the candidate to a scratch folder and run the acceptance checks in the sandbox."""
    with tempfile.TemporaryDirectory(prefix="acdc-candidate-") as scratch:
        task_dir = write_task(Path(scratch) / "task", proposal.code, proposal.card, {"candidate": True})
        materialized = pool.materialize([task_dir])[0]
        if not materialized.ok:
            return ValidationReport([Problem("load_failed", "the task did not load in the sandbox "
                                             f"({materialized.kind}): {(materialized.error or '')[-800:]}")])
        first = materialized.instances[0]
        answers = [DUMMY_SUBMISSION] + ([proposal.known_good_answer] if proposal.known_good_answer else [])
        results = pool.score([ScoreItem(task_dir, first.data, answer) for answer in answers])
    dummy, known = results[0], (results[1] if len(results) > 1 else None)
    problems = []
    if dummy.score is None:
        problems.append(Problem("score_failed", f"score() failed on a wrong answer ({dummy.kind}: "
                                f"{(dummy.error or '')[-400:]}); it must return 0.0 for any wrong submission"))
    elif dummy.solved:
        problems.append(Problem("dummy_credited", "score() gives credit to a dummy submission"))
    if known is None and require_known_answer:
        problems.append(Problem("no_known_answer", "known_good_answer is missing; give a submission that "
                                "solves instance 1"))
    elif known is not None and not known.solved:
        problems.append(Problem("known_answer_failed", "your known_good_answer did not score 1.0: either "
                                "score() or the answer is wrong"))
    return ValidationReport(problems, [i.id for i in materialized.instances], first.instructions, known, dummy)
