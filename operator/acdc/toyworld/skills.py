"""Procedural skills of the toy world: one source of prompts for training and for tasks.

The toy-world models are trained on these generators and the procedural scientist
builds its task families on them, so a skill the specialists were fine-tuned on is the
same skill the tasks measure. Keep this module stable: other areas import it.

Conventions every skill follows (the tokenizer in ``acdc.toyworld.tokenizer`` relies on
them so that payload characters are single tokens):

- The prompt starts with one capitalised keyword and a colon (``"Add: 37+5"``).
- Payloads are lowercase ASCII letters or decimal digits; list items are separated by
  single spaces.
- A combined skill asks for two skills of different domains in one prompt: the two
  prompts joined by `` | `` and the two answers joined the same way.
- The answer is an exact string; :func:`check` compares it to a completion after
  collapsing whitespace, so a trailing newline or doubled space is not a failure.
- ``difficulty`` is the one knob (number of digits, string or list length); every value
  in ``Skill.difficulty_range`` (inclusive) is valid and larger means harder.

All randomness comes from the ``random.Random`` the caller passes in, so a task family
seeded from (run seed, task id) regenerates the same instances anywhere.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from acdc.errors import UserError


@dataclass(frozen=True)
class Example:
    """One instance of a skill: what the model is asked and the exact expected answer."""

    prompt: str
    answer: str


@dataclass(frozen=True)
class Skill:
    """A procedural skill with a difficulty knob.

    ``domain`` groups skills into the specialist a toy-world model is fine-tuned for
    (``"arithmetic"``, ``"strings"``, ``"lists"``); a combined skill names its ``parts``
    and has both their domains (``"arithmetic+strings"``), so no specialist owns it.
    """

    name: str
    domain: str
    description: str
    difficulty_range: tuple[int, int]
    _generate: Callable[[int, random.Random], Example]
    parts: tuple[str, ...] = ()

    def sample(self, difficulty: int, rng: random.Random) -> Example:
        """Draw one example at ``difficulty`` using only ``rng``."""
        low, high = self.difficulty_range
        if not isinstance(difficulty, int) or not low <= difficulty <= high:
            raise UserError(
                f"skill {self.name!r}: difficulty must be an integer in [{low}, {high}], got {difficulty!r}"
            )
        return self._generate(difficulty, rng)


def _number(digits: int, rng: random.Random) -> int:
    """A number with exactly ``digits`` digits (0-9 allowed when ``digits`` is 1)."""
    if digits == 1:
        return rng.randint(0, 9)
    return rng.randint(10 ** (digits - 1), 10**digits - 1)


def _letters(length: int, rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(length))


def _operand(difficulty: int, rng: random.Random) -> int:
    """The second operand: at most half as many digits as the first (at least one).

    Carries then run through the first number's low digits only, which keeps the skill
    learnable by a model of a few hundred thousand parameters while difficulty still
    lengthens both the numbers and the carry chains.
    """
    return _number(rng.randint(1, max(1, difficulty // 2)), rng)


def _add(difficulty: int, rng: random.Random) -> Example:
    a, b = _number(difficulty, rng), _operand(difficulty, rng)
    return Example(f"Add: {a}+{b}", str(a + b))


def _subtract(difficulty: int, rng: random.Random) -> Example:
    a = _number(difficulty, rng)
    b = min(a, _operand(difficulty, rng))  # results stay non-negative: no sign token to learn
    return Example(f"Subtract: {a}-{b}", str(a - b))


def _reverse(difficulty: int, rng: random.Random) -> Example:
    word = _letters(difficulty, rng)
    return Example(f"Reverse: {word}", word[::-1])


def _upper(difficulty: int, rng: random.Random) -> Example:
    word = _letters(difficulty, rng)
    return Example(f"Upper: {word}", word.upper())


def _sort(difficulty: int, rng: random.Random) -> Example:
    items = [rng.randint(0, 9) for _ in range(difficulty)]
    return Example("Sort: " + " ".join(map(str, items)), " ".join(map(str, sorted(items))))


def _count(difficulty: int, rng: random.Random) -> Example:
    # A small alphabet keeps the target letter frequent enough for counts above 1.
    alphabet = string.ascii_lowercase[: max(3, difficulty // 2)]
    items = [rng.choice(alphabet) for _ in range(difficulty)]
    target = rng.choice(alphabet)
    return Example(f"Count {target}: " + " ".join(items), str(items.count(target)))


_SINGLE = (
    Skill("add", "arithmetic", "add a shorter non-negative integer to a longer one", (1, 5), _add),
    Skill("subtract", "arithmetic", "subtract a shorter integer from a longer one", (1, 5), _subtract),
    Skill("reverse", "strings", "reverse a lowercase word", (2, 8), _reverse),
    Skill("upper", "strings", "upper-case a lowercase word", (2, 8), _upper),
    Skill("sort", "lists", "sort a list of digits ascending", (2, 8), _sort),
    Skill("count", "lists", "count one letter's occurrences in a list", (3, 10), _count),
)

COMBINED_LEVELS = 7
"""Difficulties 1..7 of a combined skill: both parts at the same relative place of their ranges."""


def part_difficulty(part: Skill, difficulty: int) -> int:
    """The difficulty of ``part`` inside a combined skill at ``difficulty`` (1 is both easiest)."""
    low, high = part.difficulty_range
    return low + round((difficulty - 1) * (high - low) / (COMBINED_LEVELS - 1))


def _combined(first: Skill, second: Skill) -> Skill:
    """Two skills of different domains asked in one prompt and answered in one line.

    Why they exist: a single-skill task is solved by the specialist of its domain, so a
    team of models could never cover more than the seed specialists together. A combined
    task needs both skills in *one* model. Fine-tuning on one domain wipes out the others
    (a toy specialist answers almost no prompt of another domain, combined ones included),
    while the base, trained on the easy levels of every skill, combined ones too, still
    answers them: a merge that keeps the base's breadth next to a specialist's depth covers
    what no seed does, the generalists AC/DC's merging finds among narrow experts.
    """

    def generate(difficulty: int, rng: random.Random) -> Example:
        a = first.sample(part_difficulty(first, difficulty), rng)
        b = second.sample(part_difficulty(second, difficulty), rng)
        return Example(f"{a.prompt} | {b.prompt}", f"{a.answer} | {b.answer}")

    return Skill(f"{first.name}_and_{second.name}", f"{first.domain}+{second.domain}",
                 f"{first.description}, and {second.description}, in one answer",
                 (1, COMBINED_LEVELS), generate, (first.name, second.name))


_BY_NAME = {skill.name: skill for skill in _SINGLE}
SKILLS: dict[str, Skill] = _BY_NAME | {
    skill.name: skill
    for skill in (
        _combined(_BY_NAME[first], _BY_NAME[second])
        for first, second in (("add", "upper"), ("subtract", "reverse"), ("add", "sort"),
                              ("subtract", "sort"), ("reverse", "sort"), ("upper", "sort"))
    )
}

DOMAINS: dict[str, tuple[str, ...]] = {
    domain: tuple(skill.name for skill in _SINGLE if skill.domain == domain)
    for domain in dict.fromkeys(skill.domain for skill in _SINGLE)
}
"""Specialist domain -> its skill names, in a fixed order (arithmetic, strings, lists).
Combined skills belong to no specialist."""


def normalise(text: str) -> str:
    """Collapse whitespace runs to one space and strip the ends."""
    return " ".join(text.split())


def check(answer_expected: str, completion: str) -> bool:
    """Exact match after whitespace normalisation (case and punctuation still count)."""
    return normalise(completion) == normalise(answer_expected)
