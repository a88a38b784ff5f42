import random
from collections import Counter

import pytest

from acdc.errors import UserError
from acdc.toyworld.skills import DOMAINS, SKILLS, Example, check, part_difficulty
from acdc.toyworld.splits import Split, examples_in, split_of


def test_domains_partition_the_single_skills_and_combined_skills_span_two():
    single = sorted(name for name, skill in SKILLS.items() if not skill.parts)
    assert sorted(name for names in DOMAINS.values() for name in names) == single
    assert set(DOMAINS) == {"arithmetic", "strings", "lists"}
    combined = [skill for skill in SKILLS.values() if skill.parts]
    assert combined, "the toy world needs tasks no single specialist can solve"
    for skill in combined:
        first, second = (SKILLS[part] for part in skill.parts)
        assert not first.parts and not second.parts and first.domain != second.domain
        assert skill.domain == f"{first.domain}+{second.domain}"


def _assert_correct(name: str, example: Example, difficulty: int) -> None:
    skill = SKILLS[name]
    if skill.parts:
        prompts, answers = example.prompt.split(" | "), example.answer.split(" | ")
        assert len(prompts) == len(answers) == 2
        for part, prompt, answer in zip(skill.parts, prompts, answers, strict=True):
            _assert_correct(part, Example(prompt, answer), part_difficulty(SKILLS[part], difficulty))
        return
    keyword, payload = example.prompt.split(": ", 1)
    if name == "add":
        a, b = payload.split("+")
        assert example.answer == str(int(a) + int(b)) and len(a) == difficulty
    elif name == "subtract":
        a, b = payload.split("-")
        assert example.answer == str(int(a) - int(b)) and int(example.answer) >= 0 and len(a) == difficulty
    elif name == "reverse":
        assert example.answer == payload[::-1] and len(payload) == difficulty
    elif name == "upper":
        assert example.answer == payload.upper() and payload.islower() and len(payload) == difficulty
    elif name == "sort":
        assert example.answer.split() == sorted(payload.split()) and len(payload.split()) == difficulty
    elif name == "count":
        target = keyword.split()[1]
        assert example.answer == str(payload.split().count(target)) and len(payload.split()) == difficulty
    else:
        pytest.fail(f"no check for skill {name!r}")


@pytest.mark.parametrize("name", sorted(SKILLS))
def test_answers_are_correct_at_every_difficulty(name):
    skill = SKILLS[name]
    rng = random.Random(7)
    for difficulty in range(skill.difficulty_range[0], skill.difficulty_range[1] + 1):
        _assert_correct(name, skill.sample(difficulty, rng), difficulty)


def test_a_combined_skill_runs_both_parts_from_easiest_to_hardest():
    for skill in (s for s in SKILLS.values() if s.parts):
        low, high = skill.difficulty_range
        for part in map(SKILLS.__getitem__, skill.parts):
            assert part_difficulty(part, low) == part.difficulty_range[0]
            assert part_difficulty(part, high) == part.difficulty_range[1]


def test_sampling_depends_only_on_the_generator():
    first = [SKILLS["add"].sample(3, random.Random(5)) for _ in range(3)]
    assert len(set(first)) == 1
    assert SKILLS["add"].sample(3, random.Random(5)) != SKILLS["add"].sample(3, random.Random(6))


def test_difficulty_outside_the_range_is_a_user_error():
    with pytest.raises(UserError, match="difficulty must be an integer in"):
        SKILLS["reverse"].sample(99, random.Random(0))


def test_check_normalises_whitespace_but_not_case():
    assert check("1 2 3", "  1  2\n3 ")
    assert not check("ABC", "abc")
    assert not check("12", "123")


@pytest.mark.parametrize("split", list(Split))
def test_examples_in_a_split_all_belong_to_it(split):
    examples = examples_in(split, "reverse", 5, 20, random.Random(1))
    assert len(examples) == 20 and {split_of(ex.prompt) for ex in examples} == {split}


def test_the_split_is_about_eight_one_one():
    rng = random.Random(2)
    prompts = {SKILLS["reverse"].sample(6, rng).prompt for _ in range(5000)}
    counts = Counter(split_of(p) for p in prompts)
    assert 0.75 < counts[Split.TRAIN] / len(prompts) < 0.85
    assert all(0.07 < counts[s] / len(prompts) < 0.13 for s in (Split.TASKS, Split.HELDOUT))
