"""Is OBS running? A small per-OS check without psutil (the shells may also pass the answer in).

OBS reads its Python setting at start and writes its ini files on exit, so an edit made while it runs is
either ignored or overwritten: the installer refuses instead.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from .providers import normalise_os

_NAMES = {"windows": ("obs64.exe", "obs32.exe", "obs.exe"), "linux": ("obs",), "macos": ("OBS", "obs")}


def obs_is_running(os_name: str, proc_root: Path = Path("/proc")) -> bool:
    os_name = normalise_os(os_name)
    if os_name == "linux":
        for comm in proc_root.glob("[0-9]*/comm"):
            try:
                if comm.read_text().strip() in _NAMES["linux"]:
                    return True
            except OSError:  # the process ended while we looked
                continue
        return False
    try:
        if os_name == "windows":
            out = subprocess.run(["tasklist", "/FO", "CSV", "/NH"], capture_output=True, text=True,
                                 timeout=20).stdout.lower()
            return any(f'"{n}"' in out for n in _NAMES["windows"])
        return any(subprocess.run(["pgrep", "-x", n], capture_output=True, timeout=20).returncode == 0
                   for n in _NAMES["macos"])
    except (OSError, subprocess.SubprocessError):
        return False  # no way to tell; the shell checked too
