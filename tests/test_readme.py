"""Every ``phi1`` command the README shows parses: its words name a command and every flag is
one that command takes (jsonargparse's ``--print_config`` parses the line and runs nothing).
A renamed flag fails here with the message that names its new spelling."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from phi1.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[str]:
    """The phi1 command lines of the README: in fenced blocks (continuations joined,
    comments dropped), and inline code spans that give flags."""
    text = README.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"^ *```[^\n]*\n(.*?)^ *```", text, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            words = line.split()
            if "phi1.cli" in words:  # torchrun ... -m phi1.cli COMMAND ...
                line = "phi1 " + " ".join(words[words.index("phi1.cli") + 1 :])
            if line.startswith("phi1 "):
                found.append(line)
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.M | re.S).replace("\n", " ")
    found += [s for s in re.findall(r"`(phi1 [^`]+)`", prose) if " --" in s]
    return sorted(set(found))


COMMANDS = _commands()


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 10
    assert any(c.startswith("phi1 run ") for c in COMMANDS)


@pytest.mark.parametrize("line", COMMANDS)
def test_a_readme_command_parses(line, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(README.parent)  # recipes/... paths are relative to the project
    argv = shlex.split(line)[1:]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--print_config"])
    err = capsys.readouterr().err
    assert e.value.code == 0, f"{line}\n{err}"
