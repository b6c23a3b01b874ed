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


@pytest.mark.parametrize("key, value", [
    ("threshold", float("nan")), ("softness", float("inf")), ("feather", float("-inf")),
    ("erode", float("nan")), ("erode", float("inf")),
    pytest.param("erode", 10 ** 400, id="erode-beyond-a-float"),
    pytest.param("inference_size", -10 ** 400, id="inference_size-beyond-a-float"),
])
def test_non_finite_and_huge_numbers_are_refused_naming_the_field(key, value):
    """NaN passes a range check (nan < min is false): a NaN threshold gave an empty matte without a word.
    NaN, infinity and ints beyond a float in an int field raised ValueError/OverflowError, not SettingsError."""
    with pytest.raises(SettingsError) as e:
        MatteSettings({key: value})
    assert e.value.field == key and key in str(e.value)


@pytest.mark.parametrize("number, expect", [
    ("NaN", "'threshold' must be a finite number"),
    ("Infinity", "'threshold' must be a finite number"),
    ("-Infinity", "'threshold' must be a finite number"),
    ("1e400", "'threshold' must be a finite number"),  # JSON's way to infinity
])
def test_a_preset_with_a_non_finite_number_names_file_and_field(tmp_path, number, expect):
    f = tmp_path / "mine.json"
    f.write_text('{"name": "X", "settings": {"threshold": %s}}' % number, encoding="utf-8")
    with pytest.raises(PresetError) as e:
        load_preset_file(f)
    assert str(f) in str(e.value) and "settings.threshold" in str(e.value) and expect in str(e.value)


@pytest.mark.parametrize("number, expect", [
    ("NaN", "'erode' must be a finite number"),
    ("Infinity", "'erode' must be a finite number"),
    pytest.param("9" * 400, "'erode' must be between -20 and 20, got a number too large", id="400-digits"),
    pytest.param("9" * 5000, "unreadable JSON", id="5000-digits"),  # more than Python turns into an int
])
def test_a_preset_with_an_impossible_int_is_a_preset_error_not_a_crash(tmp_path, number, expect):
    f = tmp_path / "mine.json"
    f.write_text('{"name": "X", "settings": {"erode": %s}}' % number, encoding="utf-8")
    with pytest.raises(PresetError) as e:
        load_preset_file(f)
    assert str(f) in str(e.value) and expect in str(e.value)


def test_presets_nested_deeper_than_python_can_read_are_a_preset_error(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(PresetError, match="nested too deeply"):
        load_preset_file(f)


def test_a_user_preset_with_nan_is_skipped_with_its_reason_and_the_others_load(tmp_path, monkeypatch):
    """The user's presets folder (OBSMATTE_USER_DIR/presets) holds one good preset and files whose numbers
    raised ValueError/OverflowError: load_presets(errors=...) then failed as a whole, and the OBS dialog
    (properties.presets_or_empty) lost even the built-in presets."""
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "night.json").write_text('{"name": "Night", "settings": {"threshold": 0.4}}', encoding="utf-8")
    (folder / "nan.json").write_text('{"name": "Nan", "settings": {"softness": NaN}}', encoding="utf-8")
    (folder / "inf.json").write_text('{"name": "Inf", "settings": {"erode": Infinity}}', encoding="utf-8")
    (folder / "huge.json").write_text('{"name": "Huge", "settings": {"erode": %s}}' % ("9" * 400),
                                      encoding="utf-8")
    monkeypatch.setenv("OBSMATTE_USER_DIR", str(tmp_path))
    errors = []
    presets = load_presets(errors=errors)
    assert list(presets) == [*BUILTIN_ORDER, "night"]
    reasons = sorted(str(e) for e in errors)
    assert len(reasons) == 3, reasons
    assert "huge.json" in reasons[0] and "settings.erode" in reasons[0]
    assert "inf.json" in reasons[1] and "'erode' must be a finite number" in reasons[1]
    assert "nan.json" in reasons[2] and "'softness' must be a finite number" in reasons[2]
    assert get_preset("night").values == {"threshold": 0.4}
    with pytest.raises(PresetError, match="nan.json"):
        get_preset("nan")  # asked for by name: unknown, and the broken file is named


def test_settings_survive_copy_deepcopy_and_pickle():
    """The immutable __setattr__ made copy.copy, copy.deepcopy and pickle fail (they set attributes)."""
    import copy
    import pickle
    s = MatteSettings({"threshold": 0.3, "background": "blur", "erode": -2, "background_color": "#0a0b0c"})
    for twin in (copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s)),
                 pickle.loads(pickle.dumps(s, protocol=0))):
        assert type(twin) is MatteSettings and twin == s and hash(twin) == hash(s)
        assert twin.to_dict() == s.to_dict()
        with pytest.raises(AttributeError):
            twin.threshold = 0.9  # still immutable
