"""What obs_matting.py calls: register the filter on load, make exit safe on unload."""
from __future__ import annotations

from . import libobs as L
from . import registration
from .filter import MattingFilter

DESCRIPTION = ("<b>AI Background Matting</b><br>Adds the filter <i>AI Background Matting</i>: open a "
               "source's Filters, press +, choose it. Runs a person-segmentation model on a small copy "
               "of each frame and replaces the background (transparent, colour, blur or image) on the GPU.")


def load() -> None:
    first = registration.register(MattingFilter)
    if first:
        L.log(L.LOG_INFO, f"registered filter '{registration.FILTER_ID}'")
    else:
        L.log(L.LOG_INFO, "script reloaded: new filters use the reloaded code")


def unload() -> None:
    registration.on_script_unload()
