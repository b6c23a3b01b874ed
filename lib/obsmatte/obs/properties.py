"""The filter's settings in OBS: defaults, the properties dialog, reading/writing obs_data.

Everything is generated from the schema (obsmatte.settings.FIELDS), so the dialog, the presets and the
command line cannot drift apart. Settings keys in OBS are the schema keys plus "preset". The status
line is not a setting: it is built into the dialog each time OBS asks for the properties (the filter
never writes obs_data from its render thread), and "Refresh status" writes the current one into the dialog.

A callback that returns True makes OBS lay the dialog out again from the properties it already has
(UI/properties-view.cpp: RefreshProperties, not get_properties), so whatever a callback wants shown (the
status, which background fields are visible) it writes into those properties itself.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any

from .. import paths
from ..presets import Preset, load_presets, preset_files
from ..settings import FIELDS, FIELDS_BY_KEY, Field
from . import libobs as L
from .convert import CUSTOM_PRESET, PRESET_KEY, color_from_obs, color_to_obs, effective_preset

GROUPS = (("model", "Model"), ("mask", "Mask"), ("background", "Background"), ("timing", "Timing"))
CHOICE_LABELS = {
    "transparent": "Transparent", "color": "Colour", "blur": "Blur", "image": "Image",
    "fill": "Fill (crop)", "fit": "Fit (letterbox)", "guided": "Guided (follows the frame's edges)",
    "blur_mode": "Blur", "auto": "Auto", "cpu": "CPU", "cuda": "CUDA (NVIDIA)", "tensorrt": "TensorRT (NVIDIA)",
    "directml": "DirectML (Windows GPU)", "coreml": "CoreML (Apple)", "on": "On", "off": "Off",
}
# Which background-only fields show for which background choice.
SHOWN_FOR_BACKGROUND = {"background_color": ("color", "image"), "blur_strength": ("blur",),
                        "background_image": ("image",), "image_fit": ("image",)}
STATUS_PROPERTY = "status_info"  # no setting of that name exists, so the dialog shows our text
REFRESH_PROPERTY = "refresh_status"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tga *.gif);;All files (*.*)"


def _b(text: str) -> bytes:
    return text.encode("utf-8")


class PresetCache:
    """The presets, read from disk again only when a preset file was added, removed or changed (its mtime or
    size): the filter's update asks for them on every settings change (each step of a dragged slider), on
    OBS's graphics thread, and the dialog's callbacks on each value change."""

    def __init__(self):
        self.lock = threading.Lock()  # the UI thread and the graphics thread both ask
        self.fingerprint: tuple | None = None
        self.presets: dict[str, Preset] = {}
        self.errors: list = []

    @staticmethod
    def _fingerprint() -> tuple:
        def stamp(path):
            try:
                st = path.stat()
                return str(path), st.st_mtime_ns, st.st_size
            except OSError:  # removed since the listing
                return str(path), None, None
        return tuple(stamp(p) for p in preset_files())

    def get(self, errors: list | None = None) -> dict[str, Preset]:
        fingerprint = self._fingerprint()
        with self.lock:
            if fingerprint != self.fingerprint:
                self.errors = []
                self.presets = load_presets(errors=self.errors)
                self.fingerprint = fingerprint
            presets, problems = dict(self.presets), list(self.errors)
        if errors is not None:
            errors.extend(problems)
        return presets


_preset_cache = PresetCache()


def presets_or_empty(errors: list | None = None) -> dict[str, Preset]:
    try:
        return _preset_cache.get(errors)
    except Exception:  # a broken preset folder must not break the dialog
        return {}


# ------------------------------------------------------------------------------------------ obs_data
def set_defaults(data: int) -> None:
    for f in FIELDS:
        key = _b(f.key)
        if f.kind == "float":
            L.obs_data_set_default_double(data, key, float(f.default))
        elif f.kind == "int":
            L.obs_data_set_default_int(data, key, int(f.default))
        elif f.kind == "bool":
            L.obs_data_set_default_bool(data, key, bool(f.default))
        elif f.kind == "color":
            L.obs_data_set_default_int(data, key, color_to_obs(f.default))
        else:
            L.obs_data_set_default_string(data, key, _b(str(f.default)))
    L.obs_data_set_default_string(data, _b(PRESET_KEY), _b(CUSTOM_PRESET))


def read_values(data: int) -> dict[str, Any]:
    """Every schema value plus the preset choice, in schema types (colour as '#RRGGBB')."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        key = _b(f.key)
        if f.kind == "float":
            out[f.key] = float(L.obs_data_get_double(data, key))
        elif f.kind == "int":
            out[f.key] = int(L.obs_data_get_int(data, key))
        elif f.kind == "bool":
            out[f.key] = bool(L.obs_data_get_bool(data, key))
        elif f.kind == "color":
            out[f.key] = color_from_obs(L.obs_data_get_int(data, key))
        else:
            raw = L.obs_data_get_string(data, key)
            out[f.key] = raw.decode("utf-8", "replace") if raw else ""
    raw = L.obs_data_get_string(data, _b(PRESET_KEY))
    out[PRESET_KEY] = raw.decode("utf-8", "replace") if raw else CUSTOM_PRESET
    return out


def has_user_values(data: int, keys) -> bool:
    """True when any of `keys` was set by the user (not just a default)."""
    return any(L.obs_data_has_user_value(data, _b(k)) for k in keys)


def write_values(data: int, values: dict[str, Any]) -> None:
    for key, value in values.items():
        f = FIELDS_BY_KEY.get(key)
        k = _b(key)
        if f is None or f.kind in ("str", "choice", "path"):
            L.obs_data_set_string(data, k, _b(str(value)))
        elif f.kind == "float":
            L.obs_data_set_double(data, k, float(value))
        elif f.kind == "int":
            L.obs_data_set_int(data, k, int(value))
        elif f.kind == "bool":
            L.obs_data_set_bool(data, k, bool(value))
        elif f.kind == "color":
            L.obs_data_set_int(data, k, color_to_obs(value))


# ---------------------------------------------------------------------------------------- properties
def _on_preset_chosen(_priv, props, _prop, data) -> bool:
    """Choosing a preset writes its values into the settings, and shows the fields of its background; True
    makes OBS redraw the dialog."""
    try:
        raw = L.obs_data_get_string(data, _b(PRESET_KEY))
        chosen = raw.decode() if raw else CUSTOM_PRESET
        preset = presets_or_empty().get(chosen)
        if preset is not None:
            write_values(data, preset.values)
            _show_background_fields(props, data)
        return True
    except Exception:
        L.log(L.LOG_WARNING, "preset callback failed: " + traceback.format_exc(limit=3))
        return False


def _show_custom_when_changed(data) -> bool:
    """A value moved away from the chosen preset's: the preset shows 'Custom'. Done here, on the dialog's
    (UI) thread as the value changes, so the filter's update, which libobs runs on the graphics thread,
    finds the label already right and does not write the settings the dialog is writing. True when the
    label changed (the dialog then redraws once to show it)."""
    values = read_values(data)
    chosen = values.get(PRESET_KEY, CUSTOM_PRESET)
    shown = effective_preset(chosen, values, presets_or_empty())
    if shown == chosen:
        return False
    write_values(data, {PRESET_KEY: shown})
    return True


def _on_value_changed(_priv, _props, _prop, data) -> bool:
    try:
        return _show_custom_when_changed(data)
    except Exception:
        L.log(L.LOG_WARNING, "value callback failed: " + traceback.format_exc(limit=3))
        return False


def _show_background_fields(props, data) -> None:
    """Show only the fields of the chosen background (colour, blur strength, image)."""
    raw = L.obs_data_get_string(data, b"background")
    background = raw.decode() if raw else "transparent"
    for key, shown_for in SHOWN_FOR_BACKGROUND.items():
        p = L.obs_properties_get(props, _b(key))
        if p:
            L.obs_property_set_visible(p, background in shown_for)


def _on_background_chosen(_priv, props, _prop, data) -> bool:
    try:
        _show_custom_when_changed(data)
        _show_background_fields(props, data)
        return True
    except Exception:
        L.log(L.LOG_WARNING, "background callback failed: " + traceback.format_exc(limit=3))
        return False


def _on_refresh_status(props, _prop, key) -> bool:
    """Writes the filter's current status into the dialog; True makes OBS redraw it. `key`: libobs passes the
    button's source's data, i.e. the registry key our create returned."""
    try:
        from .registration import status_of  # imported late: registration imports this module
        show_status(props, *status_of(key))
        return True
    except Exception:
        L.log(L.LOG_WARNING, "status refresh failed: " + traceback.format_exc(limit=3))
        return False


def show_status(props: int, status: str, is_error: bool) -> None:
    """Put the status line's text and style into the dialog's properties."""
    st = L.obs_properties_get(props, _b(STATUS_PROPERTY))
    if st:
        L.obs_property_text_set_info_type(st, L.OBS_TEXT_INFO_ERROR if is_error else L.OBS_TEXT_INFO_NORMAL)
        L.obs_property_set_long_description(st, _b(status or "not rendering yet"))


# libobs keeps these function pointers for as long as a dialog lives: module-level, never collected
# (the registration module also pins this module for the whole process).
PRESET_CALLBACK = L.MODIFIED_CALLBACK(_on_preset_chosen)
BACKGROUND_CALLBACK = L.MODIFIED_CALLBACK(_on_background_chosen)
VALUE_CALLBACK = L.MODIFIED_CALLBACK(_on_value_changed)
REFRESH_CALLBACK = L.BUTTON_CALLBACK(_on_refresh_status)


def _model_list(group: int, f: Field) -> None:
    from ..models import load_manifest  # imported late: a broken manifest only empties the list
    p = L.obs_properties_add_list(group, _b(f.key), _b(f.label), L.OBS_COMBO_TYPE_LIST,
                                  L.OBS_COMBO_FORMAT_STRING)
    try:
        specs = load_manifest()
    except Exception as e:
        L.obs_property_list_add_string(p, _b(f"(model list unavailable: {e})"), _b(str(f.default)))
        return
    search = paths.model_search_dirs()
    if f.key in ("second_model", "gpu_model"):
        L.obs_property_list_add_string(p, _b("None"), _b(""))
    for spec in specs.values():
        if f.key == "second_model" and spec.family == "rvm":
            continue  # a second opinion takes frame-by-frame models
        missing = spec.find_file(search) is None
        label = spec.name + ("  (not installed)" if missing else "")
        L.obs_property_list_add_string(p, _b(label), _b(spec.id))


def _device_list(group: int, f: Field) -> None:
    p = L.obs_properties_add_list(group, _b(f.key), _b(f.label), L.OBS_COMBO_TYPE_LIST,
                                  L.OBS_COMBO_FORMAT_STRING)
    try:
        from ..runtime import available_devices
        devices = available_devices()
    except Exception:
        devices = ["cpu"]
    for d in ["auto"] + [d for d in devices if d != "auto"]:
        L.obs_property_list_add_string(p, _b(CHOICE_LABELS.get(d, d)), _b(d))


def _add_field(group: int, f: Field) -> int:
    key, label = _b(f.key), _b(f.label)
    if f.key in ("model", "second_model", "gpu_model"):
        _model_list(group, f)
        return 0
    if f.key == "device":
        _device_list(group, f)
        return 0
    if f.kind == "float":
        return L.obs_properties_add_float_slider(group, key, label, f.minimum, f.maximum, f.step)
    if f.kind == "int":
        return L.obs_properties_add_int_slider(group, key, label, int(f.minimum), int(f.maximum), int(f.step))
    if f.kind == "bool":
        return L.obs_properties_add_bool(group, key, label)
    if f.kind == "color":
        return L.obs_properties_add_color(group, key, label)
    if f.kind == "path":
        return L.obs_properties_add_path(group, key, label, L.OBS_PATH_FILE, _b(IMAGE_FILTER), None)
    if f.kind == "choice":
        p = L.obs_properties_add_list(group, key, label, L.OBS_COMBO_TYPE_LIST, L.OBS_COMBO_FORMAT_STRING)
        for choice in f.choices:
            shown = CHOICE_LABELS.get("blur_mode" if f.key == "feather_mode" and choice == "blur" else choice,
                                      choice)
            L.obs_property_list_add_string(p, _b(shown), _b(choice))
        if f.key == "background":
            L.obs_property_set_modified_callback2(p, BACKGROUND_CALLBACK, None)
        return p
    return L.obs_properties_add_text(group, key, label, L.OBS_TEXT_DEFAULT)


def build_properties(status: str, is_error: bool) -> int:
    """A fresh obs_properties_t*; ownership passes to OBS."""
    props = L.obs_properties_create()
    L.obs_properties_add_text(props, _b(STATUS_PROPERTY), b"Status", L.OBS_TEXT_INFO)
    show_status(props, status, is_error)
    L.obs_properties_add_button(props, _b(REFRESH_PROPERTY), b"Refresh status", REFRESH_CALLBACK)

    preset_list = L.obs_properties_add_list(props, _b(PRESET_KEY), b"Preset", L.OBS_COMBO_TYPE_LIST,
                                            L.OBS_COMBO_FORMAT_STRING)
    for preset_id, preset in presets_or_empty().items():
        L.obs_property_list_add_string(preset_list, _b(preset.name), _b(preset_id))
    L.obs_property_list_add_string(preset_list, b"Custom", _b(CUSTOM_PRESET))
    L.obs_property_set_long_description(
        preset_list, b"Sets the sliders below for a kind of scene; moving a slider afterwards makes it Custom.")
    L.obs_property_set_modified_callback2(preset_list, PRESET_CALLBACK, None)

    for group_key, group_label in GROUPS:
        group = L.obs_properties_create()
        for f in FIELDS:
            if f.group != group_key:
                continue
            p = _add_field(group, f) or L.obs_properties_get(group, _b(f.key))
            if p:
                L.obs_property_set_long_description(p, _b(f.help))
                if f.key != "background":  # its own callback relabels too
                    L.obs_property_set_modified_callback2(p, VALUE_CALLBACK, None)
        L.obs_properties_add_group(props, _b(group_key + "_group"), _b(group_label), L.OBS_GROUP_NORMAL, group)
    return props
