"""Which renderer OBS draws with, and whether it is a software rasterizer.

On a software rasterizer (Mesa's llvmpipe on a machine or VM without a GPU, Windows' WARP) every
full-size texture read is CPU time taken from OBS's own frame: the filter then leaves out what only buys
looks (the denoised edge guide). libobs has no call for the adapter's name; with OpenGL (Linux, macOS)
the current context answers glGetString(GL_RENDERER). Called on the graphics thread, inside the context.
"""
from __future__ import annotations

import ctypes as C
import ctypes.util
import sys

GL_RENDERER = 0x1F01
GS_DEVICE_OPENGL = 1  # libobs' enum gs_device_type (checked against obspython of OBS 29)
SOFTWARE_NAMES = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "lavapipe", "swiftshader",
                  "basic render driver", "warp")


def is_software(renderer: str | None) -> bool:
    """True for the names software rasterizers report (None, unknown: assume a GPU)."""
    name = (renderer or "").lower()
    return any(s in name for s in SOFTWARE_NAMES)


def _gl_library():
    if sys.platform == "darwin":
        candidates = ["/System/Library/Frameworks/OpenGL.framework/OpenGL"]
    else:
        candidates = ["libGL.so.1", "libOpenGL.so.0", ctypes.util.find_library("GL")]
    for name in candidates:
        if not name:
            continue
        try:
            return C.CDLL(name)
        except OSError:
            continue
    return None


def opengl_renderer() -> str | None:
    """GL_RENDERER of the current OpenGL context, or None (Direct3D, no GL library, no context)."""
    from . import libobs as L  # here: is_software must import without libobs (unit tests)
    try:
        if L.gs_get_device_type() != GS_DEVICE_OPENGL:
            return None
        gl = _gl_library()
        if gl is None:
            return None
        get_string = gl.glGetString
        get_string.restype = C.c_char_p
        get_string.argtypes = [C.c_uint]
        raw = get_string(GL_RENDERER)
    except (AttributeError, OSError):
        return None
    return raw.decode("utf-8", "replace") if raw else None
