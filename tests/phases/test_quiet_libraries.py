"""Phase and grading logs carry no library progress bars (phases/execute.quiet_libraries)."""

from __future__ import annotations

import io

from tqdm.std import tqdm

from acdc.phases.execute import quiet_libraries


def test_a_bar_asked_for_explicitly_still_draws_nothing() -> None:
    quiet_libraries()
    quiet_libraries()  # twice is the same as once
    out = io.StringIO()
    for _ in tqdm(range(50), disable=False, file=out, desc="Running generate_until requests"):
        pass
    assert out.getvalue() == ""
