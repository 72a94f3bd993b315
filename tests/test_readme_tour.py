"""The README's tour, run exactly as written: every command of its ``bash`` blocks,
in order, through the real ``jobforge`` script, after the quick start's
``jobforge demo``. Its ``jobforge run`` is the project's second run, so the
``lineage`` that follows is lineage after a re-run."""

from __future__ import annotations

import shlex
from pathlib import Path

from .cli_helpers import jobforge
from .conftest import REPO


def tour_commands(readme: str) -> list[list[str]]:
    """Each command of the tour's ``bash`` blocks (``a && b`` are two), comments removed."""
    section = readme.split("## A 5-minute tour", 1)[1].split("\n## ", 1)[0]
    commands: list[list[str]] = []
    for block in section.split("```bash")[1:]:
        for line in block.split("```", 1)[0].splitlines():
            words = shlex.split(line, comments=True)
            while words:
                if "&&" in words:
                    cut = words.index("&&")
                    commands.append(words[:cut])
                    words = words[cut + 1 :]
                else:
                    commands.append(words)
                    words = []
    return commands


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    commands = tour_commands((REPO / "README.md").read_text(encoding="utf-8"))
    assert commands[0] == ["cd", "jobforge-demo"]
    assert ["jobforge", "lineage", "occupation_outlook"] in commands
    assert jobforge("demo", cwd=tmp_path).code == 0  # the quick start's first command
    cwd = tmp_path
    outputs: dict[str, str] = {}
    for words in commands:
        if words[0] == "cd":
            cwd = cwd / words[1]
            assert cwd.is_dir(), words
            continue
        assert words[0] == "jobforge", words
        result = jobforge(*words[1:], cwd=cwd)
        assert result.code == 0, (words, result.err)
        assert "Traceback" not in result.err
        outputs.setdefault(" ".join(words[1:3]), result.out)  # the first of each
    # the second run changed nothing and said so
    assert outputs["run"].splitlines()[-1] == "ran 0, up to date 9"
    # lineage after it reaches both source files
    lineage = outputs["lineage occupation_outlook"]
    assert (
        "noc_structure_en.csv" in lineage and "employment_emploi_2024_2033_noc2021.csv" in lineage
    )
    # the init project's bad date (record 6) and negative wage (record 5)
    shown = outputs["quarantine show"]
    assert "cast:survey_date" in shown and "wage_not_negative" in shown
