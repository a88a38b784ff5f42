"""What a person watching `acdc run` sees: a live table on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acdc.steps import Phase, Step, StepRecord

if TYPE_CHECKING:  # rich is imported only when a terminal shows the live table
    from rich.live import Live
    from rich.table import Table

log = logging.getLogger("acdc.run")

_SUMMARY_PHASES = (Phase.SELECT, Phase.SYNC, Phase.TASKS)
_LOGGED_RESULT_KEYS = ("archive", "bestFitness", "coverage", "pool", "fitness", "rejected", "added", "retired")


@dataclass
class RunView:
    """The numbers shown: derived only from step records, so a resumed run shows the same."""

    name: str
    generations: int | None
    generation: int = 0
    steps_done: int = 0
    steps_known: int = 0
    children_done: int = 0
    children_total: int = 0
    archive: Mapping[str, Any] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    generations_timed: int = 0

    def absorb(self, records: Mapping[str, StepRecord]) -> None:
        for name in sorted(records):
            step = Step.parse(name)
            if step.phase in _SUMMARY_PHASES and records[name].status == "succeeded":
                self.archive = {**self.archive, **records[name].result}

    def eta_seconds(self) -> float | None:
        if not self.generations or not self.generations_timed:
            return None
        per_generation = (time.monotonic() - self.started) / self.generations_timed
        return max(self.generations + 1 - self.generation, 0) * per_generation

    def fields(self) -> list[tuple[str, str]]:
        a = self.archive
        total = "∞" if self.generations is None else str(self.generations)
        eta = self.eta_seconds()
        return [
            ("run", self.name),
            ("generation", f"{self.generation} / {total}"),
            ("phase", ", ".join(self.running) or "-"),
            ("children", f"{self.children_done} / {self.children_total}"),
            ("archive size", str(a.get("archive", "-"))),
            ("best fitness", _fmt(a.get("bestFitness"))),
            ("coverage", _fmt(a.get("coverage"))),
            ("task pool", str(a.get("pool", "-"))),
            ("ETA", "-" if eta is None else f"{eta / 60:.1f} min"),
        ]


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


class Progress:
    """Live table (rich) when stderr is a terminal; one log line per finished step otherwise."""

    def __init__(self, view: RunView, live: bool | None = None) -> None:
        self.view = view
        self.live = sys.stderr.isatty() if live is None else live
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.live import Live

            self._live = Live(self._render(), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def step_finished(self, step: Step, record: StepRecord) -> None:
        if not self.live:
            result = {k: v for k, v in record.result.items() if k in _LOGGED_RESULT_KEYS}
            log.info("%s %s %s", step.name, record.status, result or "")
        self.refresh()

    def message(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text)
        else:
            log.info("%s", text)

    def _render(self) -> Table:
        from rich.table import Table

        table = Table(title=f"AC/DC · {self.view.name}", show_header=False, min_width=48)
        table.add_column(style="bold cyan")
        table.add_column()
        for key, value in self.view.fields():
            table.add_row(key, value)
        return table
