"""docs/state-layout.md lists every file a finished run leaves in its state folder.

The doc's tree (the indented block after the first heading) is read as path patterns:
nesting by indentation, ``<...>`` and ``GGGG``/``NNN`` standing for one name, ``*`` for any
file of a folder whose format is another program's (a Hugging Face model). Every file of
the MINI run's folder (``finished_state``: generations, adaptation, report, held-out
grades) must match one, so a new file that the doc does not mention fails here.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "state-layout.md"
_ENTRY = re.compile(r"^( +)(\S+)")


def documented_patterns(text: str) -> list[str]:
    """Glob patterns (relative to the state root) of every file the doc's tree names."""
    lines = text.split("\n## ", 1)[0].splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "<root>/")
    root_indent = len(lines[start]) - len(lines[start].lstrip())
    stack: list[tuple[int, str]] = []
    patterns: list[str] = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith(" "):
            break
        match = _ENTRY.match(line)
        if match is None:
            continue
        indent, token = len(match.group(1)), match.group(2)
        if indent <= root_indent or len(line) - len(line.lstrip()) >= 30:  # a description's continuation
            continue
        stack = [(i, t) for i, t in stack if i < indent]
        path = "".join(t for _, t in stack) + token
        if token.endswith("/"):
            stack.append((indent, token))
        else:
            patterns.append(re.sub(r"<[^>]+>|GGGG|NNN", "*", path))
    return patterns


def test_every_file_of_a_finished_run_is_in_the_layout_doc(finished_state: Path) -> None:
    patterns = documented_patterns(DOC.read_text())
    files = sorted(str(p.relative_to(finished_state)) for p in finished_state.rglob("*") if p.is_file())
    assert files, "the finished run left no files"
    undocumented = [f for f in files if not any(fnmatchcase(f, pattern) for pattern in patterns)]
    assert not undocumented, f"files docs/state-layout.md does not list: {undocumented[:20]}"


def test_the_doc_parser_reads_nesting_and_placeholders() -> None:
    text = ("# t\n\n    <root>/\n      a.json                  what a is\n"
            "                              continued\n      steps/<step>.json\n"
            "      models/<id>/\n        config.json\n      generations/GGGG/\n        plan.json\n\n## next\n")
    assert documented_patterns(text) == ["a.json", "steps/*.json", "models/*/config.json", "generations/*/plan.json"]
    assert documented_patterns(DOC.read_text()), "the doc's tree was not found"
