"""Plain-Python translation between OBS settings values and the schema (no libobs here, unit-testable).

- OBS colour properties store an int 0xAABBGGRR; the schema stores '#RRGGBB'. This is the one place
  that converts between them.
- Values typed in over obs-websocket are not checked by OBS: a bad one is replaced by the schema's
  default and reported, so the filter keeps running instead of failing on a typo.
- Presets: choosing one writes its values; a value changed afterwards turns the choice into "custom"
  (the preset list always tells the truth about what is applied). A filter created with a preset and
  only some values gets the preset's for the rest.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ..errors import SettingsError
from ..presets import Preset
from ..settings import FIELDS, MatteSettings, coerce_value, parse_color

PRESET_KEY = "preset"
CUSTOM_PRESET = "custom"


def color_to_obs(hex_color: str) -> int:
    """'#RRGGBB' -> 0xFFBBGGRR (opaque)."""
    r, g, b = parse_color(hex_color)
    return 0xFF000000 | (b << 16) | (g << 8) | r


def color_from_obs(value: int) -> str:
    """0xAABBGGRR (alpha ignored) -> '#RRGGBB'."""
    value = int(value) & 0xFFFFFFFF
    r, g, b = value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF
    return f"#{r:02X}{g:02X}{b:02X}"


def settings_from_values(values: Mapping[str, Any]) -> tuple[MatteSettings, list[str]]:
    """Schema values read from OBS -> (MatteSettings, problems). A bad value falls back to its default."""
    good: dict[str, Any] = {}
    problems: list[str] = []
    for f in FIELDS:
        if f.key not in values:
            continue
        value = values[f.key]
        if f.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            good[f.key] = coerce_value(f, value)
        except SettingsError as e:
            problems.append(f"{e}; using {f.default!r}")
    return MatteSettings(good), problems


def preset_values_to_write(chosen: str, previous: str | None, presets: Mapping[str, Preset]) -> dict[str, Any]:
    """The values to write when the preset choice changed to a known preset, else nothing."""
    if chosen == previous or chosen not in presets:
        return {}
    return dict(presets[chosen].values)


def preset_values_to_fill(chosen: str, presets: Mapping[str, Preset], given: Callable[[str], bool]) -> dict[str, Any]:
    """On creation: the chosen preset's values for every key the creator did not give (`given(key)`).

    A filter created over obs-websocket or in a scene file with a preset and a few values of its own
    ({"preset": "cafe", "background": "transparent"}) gets the preset with those values changed; the
    values given always win, so a saved filter (every value stored) comes back exactly as it was saved.
    """
    if chosen not in presets:
        return {}
    return {k: v for k, v in presets[chosen].values.items() if not given(k)}


def same_value(key: str, have: Any, wanted: Any) -> bool:
    """A stored value equals a preset's (floats within 1e-6, colours in any letter case)."""
    if isinstance(wanted, float) or isinstance(have, float):
        try:
            return abs(float(have) - float(wanted)) <= 1e-6
        except (TypeError, ValueError):
            return False
    if isinstance(wanted, str) and isinstance(have, str) and key == "background_color":
        return have.upper() == wanted.upper()
    return have == wanted


def matches_preset(values: Mapping[str, Any], preset: Preset) -> bool:
    """True when every value the preset sets is still what the preset says."""
    return all(same_value(key, values.get(key), wanted) for key, wanted in preset.values.items())


def values_that_differ(to_write: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `to_write` the settings do not already hold: written from the graphics thread (the
    filter's update), even an unchanged value is a write the dialog's thread may be racing."""
    return {k: v for k, v in to_write.items() if not same_value(k, values.get(k), v)}


def effective_preset(chosen: str, values: Mapping[str, Any], presets: Mapping[str, Preset]) -> str:
    """The preset id to show: the chosen one while its values hold, else 'custom'."""
    if chosen in presets and matches_preset(values, presets[chosen]):
        return chosen
    return CUSTOM_PRESET
