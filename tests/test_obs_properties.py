"""The filter's properties against the real libobs (its settings objects need no running OBS): a value
moved in the dialog relabels the preset 'Custom' right there, on the dialog's thread, so the filter's
update (which libobs runs on the graphics thread) finds nothing to write; "Refresh status" and a preset's
background change what the open dialog shows (OBS redraws it from the properties it has)."""
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


class _Status:
    """A filter instance as the registry holds it, reduced to its status."""

    def __init__(self, text: str, problem: str | None = None):
        self.text, self._problem = text, problem

    def status_text(self) -> str:
        return self.text

    def problem(self) -> str | None:
        return self._problem


def _property_reader(name: str, restype):
    from obsmatte.obs import libobs as L
    fn = getattr(L.lib, name)
    fn.restype, fn.argtypes = restype, [C.c_void_p]
    return fn


@pytest.fixture
def dialog(settings_data, monkeypatch):
    """The filter's full properties (as get_properties builds them) and a registry of its own."""
    import builtins
    from obsmatte.obs import libobs as L
    from obsmatte.obs import properties, registration
    monkeypatch.setattr(builtins, registration._REGISTRY_ATTR, registration.Registry(), raising=False)
    props = properties.build_properties("loading the model…", False)
    yield props
    destroy = L.lib.obs_properties_destroy
    destroy.argtypes = [C.c_void_p]
    destroy(props)


def test_refresh_status_writes_the_new_status_into_the_open_dialog(dialog):
    """OBS redraws the dialog from the properties it has after a button returns True (it does not call
    get_properties again): the callback itself must put the new status there."""
    from obsmatte.obs import libobs as L
    from obsmatte.obs import properties, registration
    long_description = _property_reader("obs_property_long_description", C.c_char_p)
    info_type = _property_reader("obs_property_text_info_type", C.c_int)
    status = L.obs_properties_get(dialog, properties.STATUS_PROPERTY.encode())
    assert long_description(status) == "loading the model…".encode()
    instance = _Status("CPU · 8 ms · 25 masks/s")
    key = registration.registry().add(instance)
    assert properties._on_refresh_status(dialog, None, key) is True
    assert long_description(status).decode() == "CPU · 8 ms · 25 masks/s"
    assert info_type(status) == L.OBS_TEXT_INFO_NORMAL
    instance.text, instance._problem = "Error: model file not found — passing video through", "model file not found"
    assert properties._on_refresh_status(dialog, None, key) is True
    assert long_description(status).decode().startswith("Error: model file not found")
    assert info_type(status) == L.OBS_TEXT_INFO_ERROR


def test_choosing_a_preset_shows_the_fields_of_its_background(dialog, settings_data):
    """A preset that changes the background (Studio: colour) shows that background's fields in the open dialog
    (the background list's own callback does not run for a value a preset wrote)."""
    from obsmatte.obs import libobs as L
    from obsmatte.obs import properties
    from obsmatte.obs.convert import PRESET_KEY
    visible = _property_reader("obs_property_visible", C.c_bool)
    assert properties.presets_or_empty()["studio"].values["background"] == "color"
    properties.write_values(settings_data, {"background": "blur"})
    properties._on_background_chosen(None, dialog, None, settings_data)  # as OBS does when it opens the dialog

    def shown(key: str) -> bool:
        return visible(L.obs_properties_get(dialog, key.encode()))
    assert shown("blur_strength") and not shown("background_color")
    properties.write_values(settings_data, {PRESET_KEY: "studio"})
    preset_list = L.obs_properties_get(dialog, PRESET_KEY.encode())
    assert properties._on_preset_chosen(None, dialog, preset_list, settings_data) is True
    assert shown("background_color") and not shown("blur_strength") and not shown("background_image")


def test_presets_are_read_from_disk_again_only_when_a_file_changes(tmp_path, monkeypatch):
    """The filter's update asks for the presets on every settings change (each slider step, on the graphics
    thread): they come from a cache, read again when a preset file is added, changed or removed."""
    import json
    import os

    from obsmatte import presets
    from obsmatte.obs import properties
    need_tool("obs", why="libobs comes with OBS Studio; ./setup.sh --test installs it")
    monkeypatch.setenv("OBSMATTE_USER_DIR", str(tmp_path))
    user = tmp_path / "presets"
    user.mkdir()
    reads: list[str] = []
    real_read = presets.load_preset_file
    monkeypatch.setattr(presets, "load_preset_file", lambda path: (reads.append(path.stem), real_read(path))[1])
    monkeypatch.setattr(properties, "_preset_cache", properties.PresetCache())

    def mine(threshold: float) -> None:
        (user / "mine.json").write_text(json.dumps({"name": "Mine", "settings": {"threshold": threshold}}))

    mine(0.3)
    first = properties.presets_or_empty()
    n = len(reads)
    assert first["mine"].values["threshold"] == 0.3 and n == len(first)
    for _ in range(20):
        assert properties.presets_or_empty() == first
    assert len(reads) == n  # nothing read again
    mine(0.6)
    os.utime(user / "mine.json", ns=(1, 2_000_000_000))  # a different mtime even on a coarse clock
    assert properties.presets_or_empty()["mine"].values["threshold"] == 0.6
    (user / "broken.json").write_text("{")
    errors: list = []
    assert "broken" not in properties.presets_or_empty(errors) and len(errors) == 1
    errors = []
    assert "broken" not in properties.presets_or_empty(errors) and len(errors) == 1  # reported from the cache too
    (user / "mine.json").unlink()
    assert "mine" not in properties.presets_or_empty()
