"""The only code that knows OBS: ctypes bindings to libobs, the filter's registration and lifecycle,
GPU readback/upload/draw, and the properties dialog built from the settings schema.

Importing a submodule loads libobs, so this package is only imported inside OBS (by obs_matting.py).
"""
