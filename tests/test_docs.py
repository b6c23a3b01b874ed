"""The README's generated tables match the schema and the preset files."""
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
