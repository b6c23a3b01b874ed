"""ctypes bindings to the parts of libobs the filter uses (the only place that names C symbols).

Why ctypes and not obspython: obspython cannot register a source type, cannot pass raw pixel pointers,
and its obs_enter_graphics keeps the GIL while it blocks (a deadlock with the graphics thread). Two
handles to the same library:
- `lib` is a PyDLL: calls keep the GIL. Used for everything that never blocks (the render path),
  because a CDLL call drops and re-takes the GIL and each re-take can wait a switch interval behind a
  busy Python thread.
- `blocking` is a CDLL: calls drop the GIL. Used for every call that can wait for a libobs mutex that
  a thread waiting for the GIL may hold: obs_enter_graphics/obs_leave_graphics (the graphics mutex;
  the graphics thread holds it while it waits for the GIL in our video_render).
  Audit (OBS 29.0.2 source): the other functions bound here take no lock, or only a lock that is never
  held by a thread waiting for the GIL (obs_source_process_filter_begin may take the parent's
  async_mutex, held only briefly by the media/capture thread; blog takes the log handler's mutex,
  held only while a line is written). Note that OBS 29's tick_sources holds obs->data.sources_mutex while
  it runs a source's deferred update (our update): never call a function that takes sources_mutex
  (obs_source_create, obs_source_release of a last reference, obs_enum_sources, obs_get_source_by_name...)
  through `lib`.
Constants are libobs' stable enum values (checked against obspython of OBS 29).
"""
from __future__ import annotations

import ctypes as C
import sys

# --------------------------------------------------------------------------------------- constants
OBS_SOURCE_TYPE_FILTER = 1
OBS_SOURCE_VIDEO = 1 << 0
OBS_SOURCE_ASYNC = 1 << 2
OBS_SOURCE_CUSTOM_DRAW = 1 << 3
OBS_SOURCE_SRGB = 1 << 15
OBS_ALLOW_DIRECT_RENDERING = 1
OBS_EFFECT_DEFAULT = 0

GS_R8 = 2
GS_RGBA = 3
GS_RGBA16 = 7  # 16-bit unorm per channel (checked against obspython of OBS 29)
GS_ZS_NONE = 0
GS_DYNAMIC = 1 << 1
GS_CLEAR_COLOR = 1 << 0
GS_BLEND_ZERO = 0
GS_BLEND_ONE = 1

OBS_COMBO_TYPE_LIST = 2
OBS_COMBO_FORMAT_STRING = 3
OBS_GROUP_NORMAL = 1
OBS_TEXT_DEFAULT = 0
OBS_TEXT_INFO = 3
OBS_TEXT_INFO_NORMAL = 0
OBS_TEXT_INFO_ERROR = 2
OBS_PATH_FILE = 0

LOG_ERROR = 100
LOG_WARNING = 200
LOG_INFO = 300


def _library_name() -> str:
    if sys.platform == "win32":
        return "obs.dll"
    if sys.platform == "darwin":
        return "@rpath/libobs.framework/Versions/A/libobs"
    return "libobs.so.0"


lib = C.PyDLL(_library_name())
blocking = C.CDLL(_library_name())

vp = C.c_void_p
u32 = C.c_uint32
cstr = C.c_char_p
u8p = C.POINTER(C.c_uint8)


class Vec4(C.Structure):
    # struct vec4 is a 16-byte aligned float[4]; ctypes passes a pointer to it, alignment of the
    # pointee is not checked by libobs' C code (it copies the floats), so a plain struct works.
    _fields_ = [("x", C.c_float), ("y", C.c_float), ("z", C.c_float), ("w", C.c_float)]


class Vec2(C.Structure):
    _fields_ = [("x", C.c_float), ("y", C.c_float)]


def _bind(name: str, restype, *argtypes, dll=lib):
    fn = getattr(dll, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


# ------------------------------------------------------------------------- registration and sources
obs_register_source_s = _bind("obs_register_source_s", None, vp, C.c_size_t)
obs_filter_get_target = _bind("obs_filter_get_target", vp, vp)
obs_filter_get_parent = _bind("obs_filter_get_parent", vp, vp)
obs_source_get_base_width = _bind("obs_source_get_base_width", u32, vp)
obs_source_get_base_height = _bind("obs_source_get_base_height", u32, vp)
obs_source_get_output_flags = _bind("obs_source_get_output_flags", u32, vp)
obs_source_get_name = _bind("obs_source_get_name", cstr, vp)
obs_source_get_settings = _bind("obs_source_get_settings", vp, vp)
obs_source_removed = _bind("obs_source_removed", C.c_bool, vp)
obs_source_video_render = _bind("obs_source_video_render", None, vp)
obs_source_skip_video_filter = _bind("obs_source_skip_video_filter", None, vp)
obs_get_video_frame_time = _bind("obs_get_video_frame_time", C.c_uint64)
obs_get_video = _bind("obs_get_video", vp)
video_output_get_frame_time = _bind("video_output_get_frame_time", C.c_uint64, vp)  # ns per frame
obs_get_total_frames = _bind("obs_get_total_frames", C.c_uint32)
obs_get_lagged_frames = _bind("obs_get_lagged_frames", C.c_uint32)
obs_source_process_filter_begin = _bind("obs_source_process_filter_begin", C.c_bool, vp, C.c_int, C.c_int)
obs_source_process_filter_end = _bind("obs_source_process_filter_end", None, vp, vp, u32, u32)
obs_get_base_effect = _bind("obs_get_base_effect", vp, C.c_int)
obs_enum_filter_types = _bind("obs_enum_filter_types", C.c_bool, C.c_size_t, C.POINTER(cstr))

obs_enter_graphics = _bind("obs_enter_graphics", None, dll=blocking)
obs_leave_graphics = _bind("obs_leave_graphics", None, dll=blocking)

# blog is variadic: only its fixed arguments (level, format) are declared; callers pass b"%s" and one bytes
# message, which ctypes passes as a char* by its default conversion. Declaring them is not optional: on macOS
# arm64 a variadic call puts the variadic arguments on the stack and the fixed ones in registers, and ctypes
# only knows which are which from argtypes (CPython gh-92892); without it the first log line could crash OBS.
blog = lib.blog
blog.restype = None
blog.argtypes = [C.c_int, C.c_char_p]

# ------------------------------------------------------------------------------------------ obs_data
obs_data_release = _bind("obs_data_release", None, vp)
obs_data_get_string = _bind("obs_data_get_string", cstr, vp, cstr)
obs_data_get_int = _bind("obs_data_get_int", C.c_longlong, vp, cstr)
obs_data_get_double = _bind("obs_data_get_double", C.c_double, vp, cstr)
obs_data_get_bool = _bind("obs_data_get_bool", C.c_bool, vp, cstr)
obs_data_has_user_value = _bind("obs_data_has_user_value", C.c_bool, vp, cstr)
obs_data_set_string = _bind("obs_data_set_string", None, vp, cstr, cstr)
obs_data_set_int = _bind("obs_data_set_int", None, vp, cstr, C.c_longlong)
obs_data_set_double = _bind("obs_data_set_double", None, vp, cstr, C.c_double)
obs_data_set_bool = _bind("obs_data_set_bool", None, vp, cstr, C.c_bool)
obs_data_set_default_string = _bind("obs_data_set_default_string", None, vp, cstr, cstr)
obs_data_set_default_int = _bind("obs_data_set_default_int", None, vp, cstr, C.c_longlong)
obs_data_set_default_double = _bind("obs_data_set_default_double", None, vp, cstr, C.c_double)
obs_data_set_default_bool = _bind("obs_data_set_default_bool", None, vp, cstr, C.c_bool)

# ---------------------------------------------------------------------------------------- properties
obs_properties_create = _bind("obs_properties_create", vp)
obs_properties_add_group = _bind("obs_properties_add_group", vp, vp, cstr, cstr, C.c_int, vp)
obs_properties_add_list = _bind("obs_properties_add_list", vp, vp, cstr, cstr, C.c_int, C.c_int)
obs_property_list_add_string = _bind("obs_property_list_add_string", C.c_size_t, vp, cstr, cstr)
obs_property_list_item_disable = _bind("obs_property_list_item_disable", None, vp, C.c_size_t, C.c_bool)
obs_properties_add_float_slider = _bind("obs_properties_add_float_slider", vp, vp, cstr, cstr,
                                        C.c_double, C.c_double, C.c_double)
obs_properties_add_int_slider = _bind("obs_properties_add_int_slider", vp, vp, cstr, cstr,
                                      C.c_int, C.c_int, C.c_int)
obs_properties_add_bool = _bind("obs_properties_add_bool", vp, vp, cstr, cstr)
obs_properties_add_color = _bind("obs_properties_add_color", vp, vp, cstr, cstr)
obs_properties_add_path = _bind("obs_properties_add_path", vp, vp, cstr, cstr, C.c_int, cstr, cstr)
obs_properties_add_text = _bind("obs_properties_add_text", vp, vp, cstr, cstr, C.c_int)
obs_property_text_set_info_type = _bind("obs_property_text_set_info_type", None, vp, C.c_int)
obs_property_set_long_description = _bind("obs_property_set_long_description", None, vp, cstr)
BUTTON_CALLBACK = C.CFUNCTYPE(C.c_bool, vp, vp, vp)  # (props, property, data) -> refresh the dialog
obs_properties_add_button = _bind("obs_properties_add_button", vp, vp, cstr, cstr, BUTTON_CALLBACK)
obs_property_set_visible = _bind("obs_property_set_visible", None, vp, C.c_bool)
obs_properties_get = _bind("obs_properties_get", vp, vp, cstr)
MODIFIED_CALLBACK = C.CFUNCTYPE(C.c_bool, vp, vp, vp, vp)  # (priv, props, property, settings)
obs_property_set_modified_callback2 = _bind("obs_property_set_modified_callback2", None, vp,
                                            MODIFIED_CALLBACK, vp)

# ------------------------------------------------------------------------------------------ graphics
gs_effect_create_from_file = _bind("gs_effect_create_from_file", vp, cstr, C.POINTER(C.c_char_p))
gs_effect_destroy = _bind("gs_effect_destroy", None, vp)
gs_effect_get_param_by_name = _bind("gs_effect_get_param_by_name", vp, vp, cstr)
gs_effect_loop = _bind("gs_effect_loop", C.c_bool, vp, cstr)
gs_effect_set_texture = _bind("gs_effect_set_texture", None, vp, vp)
gs_effect_set_texture_srgb = _bind("gs_effect_set_texture_srgb", None, vp, vp)
gs_effect_set_float = _bind("gs_effect_set_float", None, vp, C.c_float)
gs_effect_set_vec2 = _bind("gs_effect_set_vec2", None, vp, C.POINTER(Vec2))
gs_effect_set_vec4 = _bind("gs_effect_set_vec4", None, vp, C.POINTER(Vec4))

gs_texrender_create = _bind("gs_texrender_create", vp, C.c_int, C.c_int)
gs_texrender_destroy = _bind("gs_texrender_destroy", None, vp)
gs_texrender_reset = _bind("gs_texrender_reset", None, vp)
gs_texrender_begin = _bind("gs_texrender_begin", C.c_bool, vp, u32, u32)
gs_texrender_end = _bind("gs_texrender_end", None, vp)
gs_texrender_get_texture = _bind("gs_texrender_get_texture", vp, vp)

gs_stagesurface_create = _bind("gs_stagesurface_create", vp, u32, u32, C.c_int)
gs_stagesurface_destroy = _bind("gs_stagesurface_destroy", None, vp)
gs_stage_texture = _bind("gs_stage_texture", None, vp, vp)
gs_stagesurface_map = _bind("gs_stagesurface_map", C.c_bool, vp, C.POINTER(u8p), C.POINTER(u32))
gs_stagesurface_unmap = _bind("gs_stagesurface_unmap", None, vp)

gs_texture_create = _bind("gs_texture_create", vp, u32, u32, C.c_int, u32, vp, u32)
gs_texture_create_from_file = _bind("gs_texture_create_from_file", vp, cstr)
gs_texture_destroy = _bind("gs_texture_destroy", None, vp)
gs_texture_set_image = _bind("gs_texture_set_image", None, vp, vp, u32, C.c_bool)
gs_texture_get_width = _bind("gs_texture_get_width", u32, vp)
gs_texture_get_height = _bind("gs_texture_get_height", u32, vp)

gs_clear = _bind("gs_clear", None, u32, C.POINTER(Vec4), C.c_float, C.c_uint8)
gs_ortho = _bind("gs_ortho", None, *([C.c_float] * 6))
gs_blend_state_push = _bind("gs_blend_state_push", None)
gs_blend_state_pop = _bind("gs_blend_state_pop", None)
gs_blend_function = _bind("gs_blend_function", None, C.c_int, C.c_int)
gs_draw_sprite = _bind("gs_draw_sprite", None, vp, u32, u32, u32)
gs_enable_framebuffer_srgb = _bind("gs_enable_framebuffer_srgb", None, C.c_bool)
gs_framebuffer_srgb_enabled = _bind("gs_framebuffer_srgb_enabled", C.c_bool)
gs_get_linear_srgb = _bind("gs_get_linear_srgb", C.c_bool)
gs_set_linear_srgb = _bind("gs_set_linear_srgb", C.c_bool, C.c_bool)  # returns the previous state
gs_get_device_type = _bind("gs_get_device_type", C.c_int)

# ctypes.memmove is a CFUNCTYPE (drops the GIL); this twin keeps it, so copying the staged frame does
# not queue behind the worker thread for the GIL.
memmove_keep_gil = C.PYFUNCTYPE(vp, vp, vp, C.c_size_t)(C._memmove_addr)


def log(level: int, message: str) -> None:
    """Write one line to the OBS log (visible in Help > Log Files)."""
    blog(C.c_int(level), b"%s", ("[obs-matting] " + message).encode("utf-8", "replace"))


def skip_video_filter(filter_source: int) -> None:
    """obs_source_skip_video_filter, but not when the filter has lost its parent: libobs 29 dereferences
    the parent without a check, and a concurrent obs_source_filter_remove clears it."""
    if obs_filter_get_parent(filter_source) and obs_filter_get_target(filter_source):
        obs_source_skip_video_filter(filter_source)


def filter_type_ids() -> list[str]:
    """Ids of every registered filter type (obspython's version needs a char** it cannot pass)."""
    ids, i, out = [], 0, cstr()
    while obs_enum_filter_types(i, C.byref(out)):
        ids.append(out.value.decode())
        i += 1
    return ids


# ------------------------------------------------------------------- added for the fast render path
# (graphics/filter video_render): the filter path's end with a technique other than "Draw", so the
# filter picks one specialised full-size shader per background mode instead of branching per pixel.
obs_source_process_filter_tech_end = _bind("obs_source_process_filter_tech_end", None, vp, vp, u32, u32, cstr)
