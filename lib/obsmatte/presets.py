"""Scene presets: JSON files validated by the settings schema (settings.FIELDS).

A preset file looks like
    {"name": "Studio", "description": "...", "provenance": "...", "settings": {"threshold": 0.5, ...}}
Only fields marked `in_preset` may appear in "settings" (device, threads and file paths stay the
user's). Built-in presets live in <repo>/presets; user presets in the user folder override them by id
(the file name without .json).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .errors import PresetError, SettingsError
from .settings import FIELDS, FIELDS_BY_KEY, MatteSettings, coerce_value

BUILTIN_ORDER = ("studio", "cafe", "multi_person", "low_light")
PRESET_KEYS = {f.key for f in FIELDS if f.in_preset}
_TOP_LEVEL = {"name": str, "description": str, "provenance": str, "settings": dict, "tuning": dict}


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    description: str
    provenance: str
    values: dict[str, Any]  # only the keys the preset sets
    path: Path | None = None
    tuning: dict[str, Any] = field(default_factory=dict)

    def apply(self, base: MatteSettings | None = None) -> MatteSettings:
        """The preset's values on top of `base` (defaults when None)."""
        return (base or MatteSettings()).replace(**self.values)


def parse_preset(data: Any, preset_id: str, where: str) -> Preset:
    """Validate a decoded preset document; errors name the file and the field."""
    if not isinstance(data, dict):
        raise PresetError("a preset must be a JSON object", source=where)
    for key, value in data.items():
        if key not in _TOP_LEVEL:
            raise PresetError(f"unknown key '{key}' (allowed: {', '.join(_TOP_LEVEL)})", field=key, source=where)
        if not isinstance(value, _TOP_LEVEL[key]):
            raise PresetError(f"'{key}' must be {_TOP_LEVEL[key].__name__}", field=key, source=where)
    for key in ("name", "settings"):
        if key not in data:
            raise PresetError(f"missing '{key}'", field=key, source=where)
    values = {}
    for key, value in data["settings"].items():
        if key not in FIELDS_BY_KEY:
            raise PresetError(f"unknown setting '{key}'", field=f"settings.{key}", source=where)
        if key not in PRESET_KEYS:
            raise PresetError(f"'{key}' is the user's choice and cannot be set by a preset",
                              field=f"settings.{key}", source=where)
        try:
            values[key] = coerce_value(FIELDS_BY_KEY[key], value)
        except SettingsError as e:
            raise PresetError(e.detail, field=f"settings.{key}", source=where) from None
    return Preset(preset_id, data["name"], data.get("description", ""), data.get("provenance", ""),
                  values, None, data.get("tuning", {}))


def load_preset_file(path: str | Path) -> Preset:
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError("preset file not found", source=where) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PresetError(f"cannot read preset file ({e.__class__.__name__}: {e})", source=where) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PresetError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", source=where) from None
    except ValueError as e:  # an integer of more digits than Python converts (4300)
        raise PresetError(f"unreadable JSON: {str(e).split(';')[0]}", source=where) from None
    except RecursionError:
        raise PresetError("unreadable JSON: nested too deeply", source=where) from None
    preset = parse_preset(data, path.stem, where)
    return Preset(preset.id, preset.name, preset.description, preset.provenance, preset.values, path,
                  preset.tuning)


def preset_files(builtin_dir: Path | None = None, user_dir: Path | None = None) -> list[Path]:
    """The preset files load_presets reads, in its order: built-in ones (BUILTIN_ORDER first), then the user's."""
    builtin_dir = builtin_dir or paths.PRESETS_DIR
    user_dir = user_dir if user_dir is not None else paths.user_presets_dir()
    files = sorted(builtin_dir.glob("*.json"), key=lambda p: (
        BUILTIN_ORDER.index(p.stem) if p.stem in BUILTIN_ORDER else len(BUILTIN_ORDER), p.stem))
    if user_dir.is_dir():
        files += sorted(user_dir.glob("*.json"))
    return files


def load_presets(builtin_dir: Path | None = None, user_dir: Path | None = None,
                 errors: list[PresetError] | None = None) -> dict[str, Preset]:
    """All presets by id: built-in ones first (in BUILTIN_ORDER), then user ones (which may override).

    A broken user preset does not hide the others: it is reported in `errors` when given, else raised.
    """
    found: dict[str, Preset] = {}
    for f in preset_files(builtin_dir, user_dir):
        try:
            found[f.stem] = load_preset_file(f)
        except PresetError as e:
            if errors is None:
                raise
            errors.append(e)
    return found


def get_preset(name_or_path: str) -> Preset:
    """A preset by id (case-insensitive, '-' or ' ' for '_'), by display name, or by a path to a JSON file."""
    candidate = Path(name_or_path)
    if candidate.suffix.lower() == ".json" or candidate.exists():
        return load_preset_file(candidate)
    broken: list[PresetError] = []  # a broken file of the user's must not hide the other presets
    presets = load_presets(errors=broken)
    wanted = name_or_path.strip().lower().replace("-", "_").replace(" ", "_")
    for p in presets.values():
        if wanted in (p.id.lower(), p.name.lower().replace(" ", "_").replace("-", "_"),
                      p.name.lower().replace("é", "e")):
            return p
    unreadable = "".join(f"; unreadable: {e}" for e in broken)
    raise PresetError(f"unknown preset '{name_or_path}' (available: {', '.join(presets)}){unreadable}")
