"""`acdc report` and the held-out comparison on a real finished run.

The report is checked twice: by parsing the HTML we wrote, and by the DOM headless
Chromium builds from it (a malformed SVG is re-parented or dropped by the browser, so
its marks would no longer be found inside the plot).
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from acdc.engine.state import RunState
from acdc.evaluation.heldout import (
    AREAS,
    SOLVED_FRACTION,
    area_of,
    compare_heldout,
    heldout_tasks,
    prompts_seen_by_run,
    transformers_grader,
)
from acdc.runner.snapshot import open_snapshot
from acdc.toyworld.skills import SKILLS
from acdc.toyworld.splits import Split, split_of
from tests.progress import run_progressing
from tests.runner.finished_run import acdc, latest_archive, latest_pool

PLOTS = ("heldout", "fitness", "skills", "pool", "embeddings", "lineage",
         "coverage-acdc_toyworld", "coverage-by-generation")  # MINI benchmarks generation 2 in its DAG


class MarkCounter(HTMLParser):
    """Counts class="mark" shapes inside each <svg data-plot=...>; notes external references."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[str, int] = {}
        self.current: str | None = None
        self.external: list[str] = []
        self.empty: list[str] = []
        self.column_labels = 0
        self.notes: dict[str, list[str]] = {}
        self._in_note = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" and a.get("data-plot"):
            self.current = a["data-plot"]
            self.marks.setdefault(self.current, 0)
        elif self.current and "mark" in (a.get("class") or "").split():
            self.marks[self.current] += 1
        if tag in ("script", "link", "img", "iframe") and (a.get("src") or a.get("href")):
            self.external.append(tag)
        if a.get("data-empty"):
            self.empty.append(a["data-empty"] or "")
        if tag == "text" and self.current:
            self.column_labels += a.get("class") == "column"
            self._in_note = a.get("class") == "note"

    def handle_data(self, data: str) -> None:
        if self._in_note and self.current:
            self.notes.setdefault(self.current, []).append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_note = False
        if tag == "svg":
            self.current = None


def count_marks(html: str) -> MarkCounter:
    parser = MarkCounter()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def report(finished_state: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = acdc("report", str(finished_state), "--output", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(out.resolve()) in result.stdout
    return out


def test_run_writes_the_report_when_it_finishes(finished_state: Path) -> None:
    assert (finished_state / "report.html").is_file()


def test_every_plot_has_data_and_nothing_is_fetched(report: Path) -> None:
    parsed = count_marks(report.read_text())
    assert not parsed.empty, f"plots without data: {parsed.empty}"
    assert parsed.external == []
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", report.read_text())
    for plot in PLOTS:
        assert parsed.marks.get(plot, 0) > 0, f"plot {plot!r} drew nothing: {parsed.marks}"


def test_skill_heatmap_has_one_cell_per_model_and_task(report: Path, finished_state: Path) -> None:
    members = latest_archive(finished_state)["members"]
    active = latest_pool(finished_state)
    assert count_marks(report.read_text()).marks["skills"] == len(members) * len(active)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not on PATH (make system-deps installs it)")
def test_report_renders_in_headless_chromium(report: Path, finished_state: Path, tmp_path: Path) -> None:
    result = run_progressing(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", report.resolve().as_uri()])
    assert result.returncode == 0, result.stderr[-2000:]
    dom = count_marks(result.stdout)
    written = count_marks(report.read_text())
    assert set(PLOTS) <= set(dom.marks)
    assert dom.marks == written.marks, "the browser re-parented or dropped plot marks"
    assert dom.column_labels == len(latest_pool(finished_state)), "every heatmap column is labelled in the page"
    assert dom.notes["fitness"] and "pool adapts" in " ".join(dom.notes["fitness"]).lower()


def test_heldout_set_is_held_out_and_seeded_apart_from_the_run() -> None:
    tasks = heldout_tasks(1)
    assert all(split_of(e.prompt) is Split.HELDOUT for t in tasks for e in t.examples)
    assert heldout_tasks(1) == tasks
    assert heldout_tasks(2) != tasks
    assert len({t.name for t in tasks}) == len(tasks)


def test_heldout_prompts_were_never_instances_of_the_run(finished_state: Path) -> None:
    seen = prompts_seen_by_run(finished_state)
    assert seen, "the run's task instances must be readable"
    spec_seed = open_snapshot(finished_state).run.spec.seed
    prompts = {e.prompt for t in heldout_tasks(spec_seed, seen=seen) for e in t.examples}
    assert prompts and not prompts & seen


def test_heldout_comparison_is_cached_and_consistent(finished_state: Path) -> None:
    snapshot = open_snapshot(finished_state)
    cache = json.loads((RunState(finished_state).heldout_file).read_text())
    calls: list[str] = []
    real = transformers_grader(snapshot.run.spec)

    def counting(model_dir: str, tasks):  # type: ignore[no-untyped-def]
        calls.append(model_dir)
        return real(model_dir, tasks)

    comparison = compare_heldout(snapshot, grader=counting)
    assert calls == [], "a cached comparison must not evaluate again"
    grades = cache["grades"]
    tasks = heldout_tasks(snapshot.run.spec.seed, seen=prompts_seen_by_run(finished_state))
    names = [t.name for t in tasks]
    per_area = Counter(area_of(SKILLS[t.skill]) for t in tasks)
    assert per_area["combined"] > 0 and set(per_area) == set(AREAS)
    for group in comparison.groups:
        solved = sum(any(grades[m][n] >= SOLVED_FRACTION for m in group.models) for n in names)
        assert group.solved == solved and group.coverage == pytest.approx(solved / len(names), abs=1e-6)
        assert sum(group.per_area[a] * n for a, n in per_area.items()) == pytest.approx(solved, abs=1e-4)
    force = comparison.group("taskforce")
    archive_ids = {m["model_id"] for m in latest_archive(finished_state)["members"]}
    assert set(force.models) <= archive_ids and len(force.models) == comparison.size
    assert len(comparison.group("seeds").models) == comparison.size
    evolved = comparison.group("evolved").models
    assert evolved and set(evolved) <= archive_ids and not any(m.startswith("seed_") for m in evolved)
    assert comparison.group("base").models == ("base",), "a toy-world run is compared with its base too"
    starting = comparison.group("starting").models
    assert 0 < len(starting) <= comparison.size and all(m.startswith("seed_") for m in starting)
    assert "seed_base" in grades, "the toy world's base runs as a candidate by default"
    assert set(comparison.beyond_start) <= set(names)

    # The report compared every smaller size too; greedy picks are prefix-stable, so each
    # smaller force is the head of this one, and no size graded a model twice.
    for n in range(1, comparison.size):
        smaller = compare_heldout(snapshot, size=n, grader=counting)
        assert smaller.size == n and smaller.group("taskforce").models == force.models[:n]
    assert calls == []


def test_a_starting_model_without_generation_0_scores_makes_the_team_not_comparable(finished_state: Path,
                                                                                     tmp_path: Path) -> None:
    """The best starting team is chosen on generation-0 scores; a starting model without them
    (seedsInArchive: false, a lost file) cannot be in it, so beating that team is no verdict on
    beating the run's start: the comparison names the model and the report says so."""
    from acdc.report.render import heldout_section

    state = tmp_path / "state"
    shutil.copytree(finished_state, state, symlinks=True)
    RunState(state).heldout_file.unlink()
    team = compare_heldout(open_snapshot(finished_state)).group("starting").models
    RunState(state).scores_file(0, team[0]).unlink()

    comparison = compare_heldout(open_snapshot(state), grader=lambda model_dir, tasks: {t.name: 0.0 for t in tasks})
    assert comparison.unscored_start == (team[0],)
    assert team[0] not in comparison.group("starting").models
    assert "NOT comparable" in comparison.group("starting").label
    assert comparison.against_team() == "not comparable"
    html = heldout_section([comparison], "")
    assert "NOT A FAIR COMPARISON" in html and team[0] in html
    assert "<td>not comparable</td></tr>" in html


def test_an_interrupted_heldout_grading_keeps_the_models_it_graded(finished_state: Path, tmp_path: Path) -> None:
    """Ctrl-C during the report's grading: the models graded so far are in heldout.json (they
    were saved only with the finished comparison), so the next report grades only the rest."""
    state = tmp_path / "state"
    shutil.copytree(finished_state, state, symlinks=True)
    RunState(state).heldout_file.unlink()
    graded: list[str] = []

    def interrupted_at_the_third(model_dir: str, tasks):  # type: ignore[no-untyped-def]
        if len(graded) == 2:
            raise KeyboardInterrupt
        graded.append(model_dir)
        return {t.name: 0.0 for t in tasks}

    with pytest.raises(KeyboardInterrupt):
        compare_heldout(open_snapshot(state), grader=interrupted_at_the_third)
    kept = json.loads(RunState(state).heldout_file.read_text())
    assert len(kept["grades"]) >= 2 and not kept["comparisons"]

    again: list[str] = []
    compare_heldout(open_snapshot(state), grader=lambda model_dir, tasks: again.append(model_dir) or
                    {t.name: 0.0 for t in tasks})
    assert again and not set(again) & set(graded), "a model graded before the interruption was graded again"


def test_report_compares_the_force_with_the_starting_team_at_every_size(report: Path, finished_state: Path) -> None:
    """The paper sweeps coverage over N: the report shows force against the best starting
    team of the same size for every N up to the seeds', the row's verdict from the counts."""
    cache = json.loads(RunState(finished_state).heldout_file.read_text())
    last = max(c["generation"] for c in cache["comparisons"].values())
    compared = {c["size"]: c for c in cache["comparisons"].values() if c["generation"] == last}
    seeds = len(open_snapshot(finished_state).run.spec.models.seeds)
    assert sorted(compared) == list(range(1, seeds + 1))
    html = report.read_text()
    table = html[html.index("By task-force size"):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>(\d+)</td><td>([^<]*)</td><td>(\d+)</td>"
                      r"<td>(yes|tie|no)</td></tr>", table)
    assert [int(r[0]) for r in rows] == list(range(1, seeds + 1))
    for size, force, solved, team, team_solved, verdict in rows:
        groups = {g["key"]: g for g in compared[int(size)]["groups"]}
        assert force == ", ".join(groups["taskforce"]["models"]) and int(solved) == groups["taskforce"]["solved"]
        assert team == ", ".join(groups["starting"]["models"]) and int(team_solved) == groups["starting"]["solved"]
        ours, theirs = int(solved), int(team_solved)
        assert verdict == ("yes" if ours > theirs else "tie" if ours == theirs else "no")
