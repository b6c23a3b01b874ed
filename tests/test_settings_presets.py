"""The settings schema and the preset files: valid presets load, broken ones name the file and field."""
from __future__ import annotations

import json

import pytest

from obsmatte.errors import PresetError, SettingsError
from obsmatte.presets import BUILTIN_ORDER, get_preset, load_preset_file, load_presets
from obsmatte.settings import FIELDS, LIVE_KEYS, RESTART_KEYS, MatteSettings, parse_color


def test_defaults_are_valid_and_complete():
    s = MatteSettings()
    for f in FIELDS:
        assert getattr(s, f.key) == f.default
    assert s.color_rgb == (0, 255, 0)


def test_restart_keys_are_exactly_the_models_device_threads():
    assert RESTART_KEYS == {"model", "second_model", "gpu_model", "device", "threads"}
    assert "threshold" in LIVE_KEYS
    base = MatteSettings()
    assert not base.needs_restart(base.replace(threshold=0.7, background="blur"))
    assert base.needs_restart(base.replace(model="mediapipe_selfie_general"))
    assert base.needs_restart(base.replace(second_model="mediapipe_selfie_general"))


@pytest.mark.parametrize("values, field", [
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": "high"}, "threshold"),
    ({"erode": 1.5}, "erode"),
    ({"background": "stars"}, "background"),
    ({"background_color": "green"}, "background_color"),
    ({"sync_video": 1}, "sync_video"),
    ({"no_such_knob": 1}, "no_such_knob"),
])
def test_invalid_values_name_the_field(values, field):
    with pytest.raises(SettingsError) as e:
        MatteSettings(values)
    assert e.value.field == field
    assert field in str(e.value)


def test_settings_are_immutable_and_replace_validates():
    s = MatteSettings()
    with pytest.raises(AttributeError):
        s.threshold = 0.3
    assert s.replace(threshold=0.3).threshold == 0.3
    with pytest.raises(SettingsError):
        s.replace(feather=-1)
    assert parse_color("#0a0B0c") == (10, 11, 12)


def test_the_four_builtin_presets_load_in_order():
    presets = load_presets(user_dir=None)
    assert list(presets)[:4] == list(BUILTIN_ORDER)
    names = [presets[k].name for k in BUILTIN_ORDER]
    assert names == ["Studio", "Café", "Multi-person", "Low light"]
    for p in presets.values():
        s = p.apply()
        assert isinstance(s, MatteSettings)
        assert p.provenance, f"{p.id} must say where its values come from"
    assert presets["low_light"].values["low_light_boost"] > 0


def test_get_preset_by_id_name_or_path(tmp_path):
    assert get_preset("cafe").name == "Café"
    assert get_preset("Multi-person").id == "multi_person"
    assert get_preset("low light").id == "low_light"
    with pytest.raises(PresetError, match="unknown preset"):
        get_preset("disco")


@pytest.mark.parametrize("text, expect", [
    ("{not json", "invalid JSON at line 1"),
    ("[]", "must be a JSON object"),
    ('{"name": "X"}', "missing 'settings'"),
    ('{"name": "X", "settings": {"threshold": 2}}', "settings.threshold"),
    ('{"name": "X", "settings": {"threshhold": 0.5}}', "settings.threshhold"),
    ('{"name": "X", "settings": {"device": "cuda"}}', "settings.device"),
    ('{"name": "X", "colour": 1, "settings": {}}', "colour"),
])
def test_invalid_preset_json_names_file_and_field(tmp_path, text, expect):
    f = tmp_path / "mine.json"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError) as e:
        load_preset_file(f)
    assert str(f) in str(e.value)
    assert expect in str(e.value)


def test_user_presets_load_and_broken_ones_do_not_hide_others(tmp_path):
    (tmp_path / "night_stream.json").write_text(json.dumps(
        {"name": "Night stream", "settings": {"threshold": 0.4, "background": "blur"}}), encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    errors = []
    presets = load_presets(user_dir=tmp_path, errors=errors)
    assert presets["night_stream"].apply().background == "blur"
    assert "studio" in presets
    assert len(errors) == 1 and "broken.json" in str(errors[0])
    with pytest.raises(PresetError):
        load_presets(user_dir=tmp_path)
