"""The README's generated tables match the schema and the preset files; its Troubleshooting table quotes
messages that are in the code."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tables_are_up_to_date():
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "update_readme.py"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_readme_starts_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    commands = [l for l in first_block.splitlines() if l.strip() and not l.startswith("#")]
    assert commands[0].startswith("./setup.sh && .venv/bin/obs-matting image")
    assert commands[1] == "./setup.sh --test && .venv/bin/python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./setup.sh --test" in ci and ".venv/bin/python -m pytest" in ci


# ------------------------------------------------------------------------------------ troubleshooting
CODE_FILES = ("obs_matting.py", "install.sh", "install.ps1")


def _project_code() -> str:
    """The text of everything a message can come from: lib/ (Python, JSON, shaders), the script, the installers."""
    files = [p for p in (ROOT / "lib").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += [ROOT / name for name in CODE_FILES]
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def troubleshooting_rows(text: str) -> list[list[str]]:
    """The cells of each body row of README's Troubleshooting table."""
    section = text.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    lines = [l for l in section.splitlines() if l.startswith("|")]
    assert lines[0].startswith("| what you see |") and set(lines[1]) <= set("|-"), lines[:2]
    return [[c.strip() for c in l.strip().strip("|").split("|")] for l in lines[2:]]


def quoted_fragments(cell: str) -> list[list[str]]:
    """Each `quote` in a cell, split at '...' (the variable text) into the literal parts around it."""
    return [[part.strip() for part in quote.split("...") if part.strip()]
            for quote in re.findall(r"`([^`]+)`", cell)]


def test_troubleshooting_messages_are_in_the_code():
    """Every message the Troubleshooting table quotes (first column, in backticks) is in the code, so a
    reworded message cannot leave the README describing one the streamer never sees."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "- [Troubleshooting](#troubleshooting)" in text.split("\n## Install into OBS", 1)[0]
    rows = troubleshooting_rows(text)
    assert 8 <= len(rows) <= 20, len(rows)  # a table a streamer reads, not a catalogue
    code = _project_code()
    missing = []
    for cells in rows:
        assert len(cells) == 3, cells
        quotes = quoted_fragments(cells[0])
        assert quotes, f"row quotes no message: {cells[0]}"
        for parts in quotes:
            assert max(map(len, parts)) >= 8, f"quote too short to identify a message: {parts}"
            missing += [p for p in parts if p not in code]
    assert not missing, f"quoted in README's Troubleshooting but not found in the code: {missing}"


def test_quoted_fragments_split_at_the_variable_text():
    assert quoted_fragments("A `fell back: ...: not offered by this build` and `model file is empty: ...`") == [
        ["fell back:", ": not offered by this build"], ["model file is empty:"]]
