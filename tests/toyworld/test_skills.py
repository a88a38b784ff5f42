import random
from collections import Counter

import pytest

from acdc.errors import UserError
from acdc.toyworld.skills import DOMAINS, SKILLS, check
from acdc.toyworld.splits import Split, examples_in, split_of


def test_domains_partition_the_skills():
    assert sorted(name for names in DOMAINS.values() for name in names) == sorted(SKILLS)
    assert set(DOMAINS) == {"arithmetic", "strings", "lists"}


@pytest.mark.parametrize("name", sorted(SKILLS))
def test_answers_are_correct_at_every_difficulty(name):
    skill = SKILLS[name]
    rng = random.Random(7)
    for difficulty in range(skill.difficulty_range[0], skill.difficulty_range[1] + 1):
        example = skill.sample(difficulty, rng)
        keyword, payload = example.prompt.split(": ", 1)
        if name == "add":
            a, b = payload.split("+")
            assert example.answer == str(int(a) + int(b)) and len(a) == difficulty
        elif name == "subtract":
            a, b = payload.split("-")
            assert example.answer == str(int(a) - int(b)) and int(example.answer) >= 0
        elif name == "reverse":
            assert example.answer == payload[::-1] and len(payload) == difficulty
        elif name == "upper":
            assert example.answer == payload.upper() and payload.islower()
        elif name == "sort":
            assert example.answer.split() == sorted(payload.split()) and len(payload.split()) == difficulty
        elif name == "count":
            target = keyword.split()[1]
            assert example.answer == str(payload.split().count(target))


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
