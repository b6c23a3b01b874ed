"""Unit tests (no OBS) for the OBS <-> schema translation in obsmatte.obs.convert."""
from __future__ import annotations

import pytest

from obsmatte.errors import SettingsError
from obsmatte.obs.convert import (CUSTOM_PRESET, color_from_obs, color_to_obs, effective_preset, matches_preset,
                                  preset_values_to_fill, preset_values_to_write, settings_from_values)
from obsmatte.presets import Preset
from obsmatte.settings import FIELDS_BY_KEY


def _preset(pid: str, **values) -> Preset:
    return Preset(id=pid, name=pid.title(), description="", provenance="test", values=values)


PRESETS = {"studio": _preset("studio", threshold=0.6, erode=0, background="color", background_color="#000000"),
           "cafe": _preset("cafe", threshold=0.45, erode=2, background="blur")}


# ------------------------------------------------------------------------------------------ colours
@pytest.mark.parametrize("hex_color, obs_int", [
    ("#000000", 0xFF000000), ("#FFFFFF", 0xFFFFFFFF), ("#FF0000", 0xFF0000FF),
    ("#00FF00", 0xFF00FF00), ("#0000FF", 0xFFFF0000), ("#FF8000", 0xFF0080FF), ("#123456", 0xFF563412)])
def test_color_to_obs_is_opaque_abgr(hex_color, obs_int):
    assert color_to_obs(hex_color) == obs_int
    assert color_from_obs(obs_int) == hex_color


def test_color_from_obs_ignores_alpha_and_accepts_signed_ints():
    assert color_from_obs(0x00563412) == "#123456"
    assert color_from_obs(0x7F0080FF) == "#FF8000"
    # obs_data stores long long: an opaque colour read back through a signed 32-bit path is negative
    assert color_from_obs(0xFF0080FF - (1 << 32)) == "#FF8000"


def test_color_lowercase_input_round_trips_to_uppercase():
    assert color_from_obs(color_to_obs("#abcdef")) == "#ABCDEF"


@pytest.mark.parametrize("bad", ["red", "#12345", "#GGGGGG", "123456", "", None, 0xFF0000])
def test_bad_colour_is_a_settings_error(bad):
    with pytest.raises(SettingsError):
        color_to_obs(bad)


# ------------------------------------------------------------------------------------------ values
def test_settings_from_values_keeps_good_values():
    settings, problems = settings_from_values({"threshold": 0.7, "erode": 3, "background": "blur",
                                               "background_color": "#112233"})
    assert problems == []
    assert settings.threshold == pytest.approx(0.7)
    assert settings.erode == 3 and settings.background == "blur" and settings.background_color == "#112233"


def test_settings_from_values_accepts_integral_floats_for_ints():
    # obs-websocket sends JSON numbers; 3.0 for an int slider is fine
    settings, problems = settings_from_values({"erode": 3.0})
    assert problems == [] and settings.erode == 3 and isinstance(settings.erode, int)


def test_bad_value_falls_back_to_default_and_is_reported():
    settings, problems = settings_from_values({"background": "plaid", "threshold": "high", "erode": 2})
    assert settings.background == FIELDS_BY_KEY["background"].default
    assert settings.threshold == FIELDS_BY_KEY["threshold"].default
    assert settings.erode == 2
    assert len(problems) == 2 and all("using" in p for p in problems)


def test_unknown_keys_are_ignored():
    settings, problems = settings_from_values({"preset": "studio", "status_info": "x", "nonsense": 1})
    assert problems == []


# ------------------------------------------------------------------------------------------ presets
def test_choosing_a_new_preset_writes_its_values():
    assert preset_values_to_write("studio", "custom", PRESETS) == PRESETS["studio"].values
    assert preset_values_to_write("cafe", "studio", PRESETS) == PRESETS["cafe"].values


def test_same_or_unknown_preset_writes_nothing():
    assert preset_values_to_write("studio", "studio", PRESETS) == {}
    assert preset_values_to_write(CUSTOM_PRESET, "studio", PRESETS) == {}
    assert preset_values_to_write("missing", "studio", PRESETS) == {}


def test_a_filter_created_with_a_preset_gets_its_values_for_the_keys_not_given():
    studio = PRESETS["studio"].values
    given = {"preset", "background", "threshold"}
    filled = preset_values_to_fill("studio", PRESETS, lambda key: key in given)
    assert filled == {k: v for k, v in studio.items() if k not in given}
    assert filled == {"erode": 0, "background_color": "#000000"}
    # only the preset: all of its values; every value given (a saved filter): nothing; no known preset: nothing
    assert preset_values_to_fill("studio", PRESETS, lambda key: key == "preset") == studio
    assert preset_values_to_fill("studio", PRESETS, lambda key: True) == {}
    assert preset_values_to_fill(CUSTOM_PRESET, PRESETS, lambda key: False) == {}
    assert preset_values_to_fill("missing", PRESETS, lambda key: False) == {}


def test_preset_stays_while_its_values_hold():
    values = {"threshold": 0.6, "erode": 0, "background": "color", "background_color": "#000000", "feather": 3.0}
    assert matches_preset(values, PRESETS["studio"])  # a key the preset does not set may differ
    assert effective_preset("studio", values, PRESETS) == "studio"


def test_float_and_colour_comparisons_are_tolerant():
    values = {"threshold": 0.6 + 1e-9, "erode": 0, "background": "color", "background_color": "#000000".lower()}
    assert effective_preset("studio", values, PRESETS) == "studio"


def test_changing_a_preset_value_makes_it_custom():
    values = {"threshold": 0.6, "erode": 0, "background": "color", "background_color": "#FF8000"}
    assert effective_preset("studio", values, PRESETS) == CUSTOM_PRESET
    values = {"threshold": 0.61, "erode": 0, "background": "color", "background_color": "#000000"}
    assert effective_preset("studio", values, PRESETS) == CUSTOM_PRESET


def test_missing_value_or_unknown_preset_is_custom():
    assert effective_preset("studio", {"threshold": 0.6}, PRESETS) == CUSTOM_PRESET
    assert effective_preset("gone", {}, PRESETS) == CUSTOM_PRESET
    assert not matches_preset({"threshold": "x"}, PRESETS["studio"])


def test_an_update_writes_only_values_the_settings_do_not_hold():
    """After the dialog's own callback wrote a chosen preset's values (on its thread), the filter's update on
    the graphics thread finds nothing left to write; over obs-websocket it writes what differs."""
    from obsmatte.obs.convert import values_that_differ
    cafe = {"threshold": 0.65, "background_color": "#FFFFFF", "erode": 0, "feather_mode": "guided"}
    assert values_that_differ(cafe, {"threshold": 0.65 + 1e-9, "background_color": "#ffffff", "erode": 0,
                                     "feather_mode": "guided"}) == {}
    assert values_that_differ(cafe, {"threshold": 0.5, "background_color": "#FFFFFF", "erode": 2}) == {
        "threshold": 0.65, "erode": 0, "feather_mode": "guided"}
