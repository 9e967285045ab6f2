"""docs/tutorial.md's commands run and print what the page shows, so the tutorial cannot rot.

Each ```console block holds one ``$ exchange-sim ...`` command and its expected output. The
commands run in-process (``exchange_sim.cli.main``) from the repository's root, with the
tutorial's ``runs/tutorial`` folder replaced by a temporary one, in the page's order; their
output must equal the block's, line for line.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from exchange_sim.cli import main

ROOT = Path(__file__).resolve().parent.parent


def blocks() -> list[tuple[str, list[str]]]:
    text = (ROOT / "docs" / "tutorial.md").read_text()
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        lines = block.rstrip("\n").splitlines()
        assert lines[0].startswith("$ exchange-sim "), lines[0]
        out.append((lines[0][2:], lines[1:]))
    return out


def test_the_tutorial_has_its_commands() -> None:
    commands = [c for c, _ in blocks()]
    assert commands[0].startswith("exchange-sim run scenarios/flash_crash.toml")
    assert any(c.startswith("exchange-sim explain") for c in commands)


def test_the_tutorial_commands_print_what_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    folder = str(tmp_path / "tutorial")
    for command, expected in blocks():
        argv = [arg.replace("runs/tutorial", folder) for arg in shlex.split(command)[1:]]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(argv) == 0, command
        want = [line.replace("runs/tutorial", folder) for line in expected]
        assert out.getvalue().splitlines() == want, command
