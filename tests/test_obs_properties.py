"""The filter's properties against the real libobs (its settings objects need no running OBS): a value
moved in the dialog relabels the preset 'Custom' right there, on the dialog's thread, so the filter's
update (which libobs runs on the graphics thread) finds nothing to write."""
from __future__ import annotations

import ctypes as C

import pytest

from conftest import need_tool


@pytest.fixture
def settings_data():
    need_tool("obs", why="libobs comes with OBS Studio; ./setup.sh --test installs it")
    from obsmatte.obs import libobs as L
    create = L.lib.obs_data_create
    create.restype = C.c_void_p
    data = create()
    yield data
    L.obs_data_release(data)


def test_moving_a_value_relabels_the_preset_custom_on_the_dialogs_thread(settings_data):
    from obsmatte.obs import libobs as L
    from obsmatte.obs import properties
    from obsmatte.obs.convert import CUSTOM_PRESET, PRESET_KEY
    cafe = properties.presets_or_empty()["cafe"]
    properties.write_values(settings_data, {**cafe.values, PRESET_KEY: "cafe"})
    assert properties._on_value_changed(None, None, None, settings_data) is False  # still Café: no redraw
    assert properties.read_values(settings_data)[PRESET_KEY] == "cafe"
    L.obs_data_set_double(settings_data, b"threshold", cafe.values["threshold"] - 0.2)
    assert properties._on_value_changed(None, None, None, settings_data) is True  # the label changed: redraw
    assert properties.read_values(settings_data)[PRESET_KEY] == CUSTOM_PRESET
    assert properties._on_value_changed(None, None, None, settings_data) is False  # Custom stays Custom
    # the background list's own callback relabels too (it also shows the fields for that background)
    properties.write_values(settings_data, {**cafe.values, PRESET_KEY: "cafe", "background": "blur"})
    assert properties.read_values(settings_data)[PRESET_KEY] == "cafe"
    props = L.obs_properties_create()  # empty: nothing to show or hide
    try:
        assert properties._on_background_chosen(None, props, None, settings_data) is True
    finally:
        destroy = L.lib.obs_properties_destroy
        destroy.argtypes = [C.c_void_p]
        destroy(props)
    assert properties.read_values(settings_data)[PRESET_KEY] == CUSTOM_PRESET


def test_a_broken_user_preset_leaves_the_others_in_the_dialog(tmp_path, monkeypatch):
    """A user preset with NaN or an int beyond a float raised ValueError/OverflowError out of load_presets:
    presets_or_empty then showed no preset at all, built-in ones included. Now only that file is left out,
    with its reason."""
    need_tool("obs", why="libobs comes with OBS Studio; ./setup.sh --test installs it")
    from obsmatte.obs import properties
    from obsmatte.presets import BUILTIN_ORDER
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "mine.json").write_text('{"name": "Mine", "settings": {"threshold": 0.4}}', encoding="utf-8")
    (folder / "nan.json").write_text('{"name": "Nan", "settings": {"erode": NaN}}', encoding="utf-8")
    monkeypatch.setenv("OBSMATTE_USER_DIR", str(tmp_path))
    errors = []
    assert list(properties.presets_or_empty(errors)) == [*BUILTIN_ORDER, "mine"]
    assert len(errors) == 1 and "nan.json" in str(errors[0]) and "'erode' must be a finite number" in str(errors[0])
