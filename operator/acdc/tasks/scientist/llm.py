"""The LLM scientist: writes and adapts task families through an OpenAI-compatible endpoint.

The flow follows the reference: prompt with example tasks (and their pass rates when
adapting), then review rounds in which the scientist sees what the sandbox made of its
draft and may repair it; a task is accepted when a reviewed draft says ``done`` and passes
validation. Unlike the reference, ``done`` may be a JSON bool, nested braces parse,
every failure (endpoint down, garbage, broken code) is a logged, counted rejection rather
than an exception, and the candidate is validated in the sandbox only.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acdc.llm_client import LLMError, Message, OpenAIClient, endpoint_answers_or_fault
from acdc.tasks.format import read_card, read_code, task_dir_name, write_task
from acdc.tasks.sandbox import SandboxPool
from acdc.tasks.scientist import prompts
from acdc.tasks.scientist.base import AdaptationKind, ScientistContext, derived_rng
from acdc.tasks.scientist.reply import Malformed, Proposal, parse_reply
from acdc.tasks.scientist.validation import ValidationReport, validate_proposal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """A proposal that passed review, with the number of review rounds it took."""

    proposal: Proposal
    rounds: int


def load_example(task_dir: Path, pass_rate: float | None = None) -> prompts.TaskExample:
    """A task folder as prompt material (reads task.py as text; never imports it)."""
    return prompts.TaskExample(read_card(task_dir), read_code(task_dir).decode("utf-8"), pass_rate)


class LLMScientist:
    """Scientist backed by a chat model; ``rejections`` counts why candidates were dropped.

    ``max_reflections`` review rounds follow the first draft (0: the first draft is
    accepted if it validates). ``require_known_answer`` makes the scientist's own
    known-good answer a condition of acceptance, so a task whose score() cannot
    recognise a right answer never enters the pool.
    """

    name = "llm"

    def __init__(self, client: OpenAIClient, pool: SandboxPool, *, max_reflections: int = 3,
                 temperature: float = 0.7, top_p: float = 0.95, max_tokens: int = 2000,
                 novel_probability: float = 0.8, max_context_tasks: int = 3, seed: int = 0,
                 require_known_answer: bool = True) -> None:
        self.client = client
        self.pool = pool
        self.max_reflections = max_reflections
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.novel_probability = novel_probability
        self.max_context_tasks = max_context_tasks
        self.seed = seed
        self.require_known_answer = require_known_answer
        self.rejections: Counter[str] = Counter()

    # -- Scientist protocol ---------------------------------------------------------------

    def propose_initial(self, n: int, context: ScientistContext) -> list[Path]:
        """Up to ``n`` first-generation tasks, each seeded by one example drawn at random."""
        examples = list(context.examples)
        written = []
        for index in range(n):
            rng = derived_rng(self.seed, context.seed, "initial", context.generation, index)
            example = others = None
            if examples:
                seed_dir, rate = examples[rng.randrange(len(examples))]
                example = load_example(seed_dir, rate)
                others = self._others(examples, exclude=seed_dir)
            novel = rng.random() < self.novel_probability
            user = prompts.initial_prompt(example, novel, others or ())
            accepted = self._develop(user, chat_seed=rng.getrandbits(31))
            if accepted is not None:
                written.append(self._write(accepted, context, parent=None, kind="initial", pass_rate=None))
        return written

    def adapt(self, parent: Path, kind: AdaptationKind, context: ScientistContext,
              pass_rate: float | None = None) -> Path | None:
        rng = derived_rng(self.seed, context.seed, "adapt", context.generation, Path(parent).name, kind)
        user = prompts.adaptation_prompt(kind, load_example(parent, pass_rate),
                                         self._others(context.examples, exclude=parent))
        accepted = self._develop(user, chat_seed=rng.getrandbits(31))
        if accepted is None:
            return None
        return self._write(accepted, context, parent=Path(parent), kind=kind, pass_rate=pass_rate)

    # -- draft, validate, review ----------------------------------------------------------

    def _others(self, examples: Sequence[tuple[Path, float]], exclude: Path) -> list[prompts.TaskExample]:
        chosen = [(d, r) for d, r in examples if Path(d).resolve() != Path(exclude).resolve()]
        return [load_example(d, r) for d, r in chosen[:self.max_context_tasks]]

    def _chat(self, messages: list[Message], chat_seed: int) -> str | None:
        try:
            reply = self.client.chat(messages, temperature=self.temperature, top_p=self.top_p,
                                     max_tokens=self.max_tokens, seed=chat_seed)
        except LLMError as exc:  # down, every draft was one more rejection: a run "finished" with no tasks
            endpoint_answers_or_fault("scientist", exc, self.client.probe)
            self._reject("llm_error", str(exc))
            return None
        return reply

    def _develop(self, user_prompt: str, chat_seed: int) -> Accepted | None:
        """First draft plus review rounds; the accepted proposal, or None (reason counted)."""
        rounds = self.max_reflections
        messages: list[Message] = [{"role": "system", "content": prompts.system_prompt(rounds)},
                                   {"role": "user", "content": user_prompt}]
        reply = self._chat(messages, chat_seed)
        round_number = 0
        while reply is not None:
            parsed = parse_reply(reply)
            if isinstance(parsed, Malformed):
                last_code, feedback = parsed.code, f"Your reply could not be used: {parsed.message}"
            else:
                report = validate_proposal(self.pool, parsed, self.require_known_answer)
                # ``done`` counts only once the scientist has seen a sandbox report
                if report.ok and (rounds == 0 or (round_number > 0 and parsed.done)):
                    return Accepted(parsed, round_number)
                last_code, feedback = _outcome(report)
            if round_number == rounds:
                self._reject(last_code, feedback)
                return None
            round_number += 1
            messages += [{"role": "assistant", "content": reply},
                         {"role": "user", "content": prompts.reflection_prompt(round_number, rounds, feedback)}]
            reply = self._chat(messages, chat_seed + round_number)
        return None

    def _reject(self, code: str, reason: str) -> None:
        self.rejections[code] += 1
        log.info("scientist candidate rejected (%s): %s", code, reason[:300])

    def _write(self, accepted: Accepted, context: ScientistContext, parent: Path | None, kind: str,
               pass_rate: float | None) -> Path:
        card = accepted.proposal.card
        metadata = {"parent": parent.name if parent else None, "adaptation": kind, "generation": context.generation,
                    "scientist": self.name, "original_pass_rate": pass_rate, "review_rounds": accepted.rounds,
                    "known_good_answer": accepted.proposal.known_good_answer}
        target = context.pool_dir / task_dir_name(context.next_number(), card.name_of_task)
        return write_task(target, accepted.proposal.code, card, metadata)


def _outcome(report: ValidationReport) -> tuple[str, str]:
    """(rejection code, text for the scientist) for a draft that is not (yet) accepted."""
    if report.problems:
        return report.problems[0].code, report.render()
    return "not_done", report.render() + "\nThe draft passes; set \"done\" to \"True\" if you would change nothing."
