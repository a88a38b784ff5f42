"""The base as a candidate: evaluated with the seeds at generation 0 when the spec says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from acdc.phases.dag import DagShape
from acdc.phases.run_models import BASE_CANDIDATE_ID, seed_ids, starting_ids
from acdc.spec import CoevolutionRunSpec, load_run

ROOT = Path(__file__).resolve().parents[2]


def _with_models(spec: CoevolutionRunSpec, **models: object) -> CoevolutionRunSpec:
    data = spec.model_dump(by_alias=True, exclude_none=True)
    data["models"] = {**data["models"], **models}
    return CoevolutionRunSpec.model_validate(data)


@pytest.fixture
def quickstart() -> CoevolutionRunSpec:
    return load_run(ROOT / "examples" / "quickstart.yaml").spec


def test_a_toy_world_base_is_a_candidate_by_default(quickstart: CoevolutionRunSpec) -> None:
    assert quickstart.models.base_candidate is None and quickstart.models.base_is_candidate
    assert starting_ids(quickstart) == [*seed_ids(quickstart), BASE_CANDIDATE_ID]
    assert DagShape.from_spec(quickstart).seeds == len(quickstart.models.seeds) + 1


def test_the_spec_can_turn_it_off_and_other_bases_are_off_by_default(quickstart: CoevolutionRunSpec) -> None:
    off = _with_models(quickstart, baseCandidate=False)
    assert starting_ids(off) == seed_ids(off)
    on_disk = _with_models(quickstart, base={"path": "/models/base"})
    assert not on_disk.models.base_is_candidate
    assert _with_models(quickstart, base={"path": "/models/base"}, baseCandidate=True).models.base_is_candidate


def test_a_candidate_base_needs_a_base_and_its_own_name(quickstart: CoevolutionRunSpec) -> None:
    data = quickstart.model_dump(by_alias=True, exclude_none=True)
    del data["models"]["base"]
    with pytest.raises(ValidationError, match="baseCandidate needs models.base"):
        CoevolutionRunSpec.model_validate({**data, "models": {**data["models"], "baseCandidate": True}})
    with pytest.raises(ValidationError, match="repeated: base"):
        _with_models(quickstart, seeds=[{"toyworld": "arithmetic", "name": "base"}])
