"""Where the project's data lives: the repo's models/ and presets/, the user's folders, ../shared.

The package sits at <root>/lib/obsmatte, so the repo root is two levels up; the OBS script and an
editable install both run from the checkout, which keeps models/ and presets/ beside the code.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent.parent
MODELS_DIR = ROOT / "models"
PRESETS_DIR = ROOT / "presets"
EFFECTS_DIR = PACKAGE_DIR / "effects"
MANIFEST_PATH = MODELS_DIR / "models.json"
# Evaluation data and reference models for tests and measurement: the folder beside the project.
SHARED_DIR = Path(os.environ.get("OBSMATTE_SHARED", ROOT.parent / "shared"))
APP_NAME = "obs-matting"


def user_data_dir() -> Path:
    """Per-user folder for downloaded models and user presets (created on demand by writers)."""
    override = os.environ.get("OBSMATTE_USER_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_NAME


def user_models_dir() -> Path:
    return user_data_dir() / "models"


def user_presets_dir() -> Path:
    return user_data_dir() / "presets"


def model_search_dirs() -> list[Path]:
    """Folders searched for model files, first match wins.

    OBSMATTE_MODEL_PATH (os.pathsep-separated) comes first so tests and users can point at other files.
    """
    dirs = [Path(p) for p in os.environ.get("OBSMATTE_MODEL_PATH", "").split(os.pathsep) if p]
    return dirs + [MODELS_DIR, user_models_dir()]
