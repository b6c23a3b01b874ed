"""Failures with names and messages written for a streamer, not tracebacks.

Every error the engine raises on bad input derives from MattingError; its str() is one line that says
what is wrong and, where it helps, what to do. The OBS filter shows it in its status line and passes
the video through; the command line prints it and exits non-zero.
"""
from __future__ import annotations


class MattingError(Exception):
    """Base of every expected failure (bad input, missing model, failing device)."""


class SettingsError(MattingError, ValueError):
    """A setting or preset value is invalid. `field` names the offending key when known."""

    def __init__(self, message: str, field: str | None = None, source: str | None = None):
        self.field = field
        self.source = source
        self.detail = message
        where = f"{source}: " if source else ""
        if source and field:
            where += f"field '{field}': "
        super().__init__(where + message)

    def with_source(self, source: str) -> "SettingsError":
        return SettingsError(self.detail, field=self.field, source=source)


class PresetError(SettingsError):
    """A preset file is missing, not JSON, or fails the schema."""


class ModelError(MattingError):
    """A model is unknown, its file is missing or corrupt, or it produced unusable output."""


class DeviceError(MattingError):
    """An execution provider could not be used; the message says why."""


class InferenceError(DeviceError):
    """A model that had run failed while running (a GPU lost to a driver reset, out of its memory)."""


class ImageError(MattingError):
    """An input image/video is missing, empty, truncated, or not a supported format."""
