"""OBS version -> the Python it can load, and which ini file holds its Python setting.

The table itself is data (obs_python_table.json) because install.ps1 needs it before any Python exists.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .failures import InstallError, ObsUnsupportedError, PythonMismatchError

TABLE_PATH = Path(__file__).with_name("obs_python_table.json")

Version = tuple[int, int, int]


def parse_version(text: str) -> Version:
    """'30.2.3', '31.0.0-rc1', '29.1', '30.1.2.0' (Windows file version) -> (30, 2, 3)."""
    m = re.match(r"\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text))
    if not m:
        raise InstallError(f"cannot read an OBS version from {text!r}; expected something like 30.2.3")
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def _fmt(v: Version) -> str:
    return ".".join(str(p) for p in v)


@dataclass(frozen=True)
class PythonChoice:
    obs_version: Version
    pythons: tuple[str, ...]  # acceptable minors, preferred first ("3.12", "3.11", ...)
    refused: tuple[str, ...]
    warning: str = ""

    @property
    def preferred(self) -> str:
        return self.pythons[0]

    def accepts(self, python_minor: str) -> bool:
        return python_minor in self.pythons


def load_table(path: Path = TABLE_PATH) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def python_for_obs(obs_version: str | Version, table: dict | None = None) -> PythonChoice:
    """The Pythons an OBS release can load. Older than the table: refused. Newer: the newest row, warned."""
    table = table or load_table()
    v = parse_version(obs_version) if isinstance(obs_version, str) else tuple(obs_version)
    oldest = parse_version(table["oldest_supported"])
    if v < oldest:
        raise ObsUnsupportedError(
            f"OBS {_fmt(v)} is too old: the filter needs OBS {table['oldest_supported']} or newer "
            f"(Python scripting with Python 3.10+); update OBS from https://obsproject.com")
    for row in table["rows"]:
        if parse_version(row["from"]) <= v < parse_version(row["below"]):
            return PythonChoice(v, tuple(row["pythons"]), tuple(row.get("refused", ())))
    newest = table["rows"][-1]
    return PythonChoice(
        v, tuple(newest["pythons"]), tuple(newest.get("refused", ())),
        warning=(f"OBS {_fmt(v)} is newer than this installer knows (up to {newest['below']} excluded); "
                 f"using Python {newest['pythons'][0]} as for the newest known OBS"))


def ini_name_for_obs(obs_version: str | Version, table: dict | None = None) -> str:
    """global.ini up to OBS 30; OBS 31 moved user settings (the Python path among them) to user.ini."""
    table = table or load_table()
    v = parse_version(obs_version) if isinstance(obs_version, str) else tuple(obs_version)
    return "user.ini" if v >= parse_version(table["user_ini_from"]) else "global.ini"


# OBS on macOS looks for the python.org framework under the folder set as its Python path (it appends
# Python.framework/Versions/...): from 31.0.2 in Versions/3.X, trying 3.<newest it knows> down, so the newest
# installed one it accepts; before, only in Versions/Current, the link the last python.org install made
# (obs-scripting-python-import.c, "Fix macOS Homebrew Python loading", first in tag 31.0.2).
MACOS_FRAMEWORKS = "/Library/Frameworks"
MACOS_LOADS_CURRENT_BELOW: Version = (31, 0, 2)


def macos_framework_python(obs_version: str | Version, installed: list[str], current: str | None,
                           table: dict | None = None) -> str:
    """The framework Python (a minor, e.g. '3.12') OBS will load on this Mac, so the packages go into it
    (a newer OBS than the table knows: its warning is on the returned choice's caller, python_for_obs).

    `installed`: the minors under /Library/Frameworks/Python.framework/Versions that have their python3.X;
    `current`: what Versions/Current points to (None: no link). Raises PythonMismatchError saying what to do
    when OBS would load none it can use."""
    choice = python_for_obs(obs_version, table)
    v = choice.obs_version
    if v < MACOS_LOADS_CURRENT_BELOW:
        if current in choice.pythons and current in installed:
            return current
        if not current:
            found = "there is no such link"
        elif current in installed:
            found = f"it points to {current}"
        else:
            found = f"it points to {current}, which is not installed (no bin/python{current})"
        wanted = [m for m in choice.pythons if m in installed] or [choice.preferred]
        raise PythonMismatchError(
            f"OBS {_fmt(v)} loads the Python that {MACOS_FRAMEWORKS}/Python.framework/Versions/Current points to "
            f"and {found}; it needs {' or '.join(choice.pythons)}: run the python.org installer of Python "
            f"{wanted[0]} again (the last one installed becomes Current), or update OBS to 31.0.2 or newer")
    for minor in choice.pythons:  # newest first, as OBS itself tries them
        if minor in installed:
            return minor
    raise PythonMismatchError(
        f"OBS {_fmt(v)} needs Python {choice.preferred} from python.org (macOS 64-bit universal2 installer): "
        f"https://www.python.org/downloads/macos/ ; install it and run ./install.sh again")
