"""The one schema of every knob: presets, the command line and the OBS properties are built from it.

Each Field says its type, range, default, label and group, so the OBS dropdowns/sliders, the preset JSON
files and the CLI flags cannot drift apart. `MatteSettings` is an immutable, validated set of values.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .errors import SettingsError

BACKGROUNDS = ("transparent", "color", "blur", "image")
IMAGE_FITS = ("fill", "fit")
FEATHER_MODES = ("blur", "guided")
EDGE_DENOISE = ("auto", "on", "spatial", "off")
DEVICES = ("auto", "cpu", "cuda", "tensorrt", "directml", "coreml")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Field:
    key: str
    kind: str  # float | int | bool | choice | color | path | str
    default: Any
    label: str
    group: str  # model | mask | background | timing
    help: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    restarts_worker: bool = False  # changing it needs a new model session
    in_preset: bool = True  # presets may set it (the model path etc. stay the user's)


FIELDS: tuple[Field, ...] = (
    # --- model: changing these restarts the worker (a new onnxruntime session) ---
    Field("model", "str", "mediapipe_selfie_landscape", "Model", "model",
          "Which segmentation/matting model runs (see `obs-matting models`).", restarts_worker=True),
    Field("second_model", "str", "", "Second opinion", "model",
          "A second model whose person confidence is averaged with the first's ('' = none): two networks "
          "rarely make the same mistake (the Low light preset uses it against dark backgrounds taken for "
          "a person). Costs its inference time; left out when the first model is a video-matting one "
          "(RVM).", restarts_worker=True),
    Field("gpu_model", "str", "", "Model with a GPU", "model",
          "A model that runs instead of 'Model' when the device turns out to be a GPU and the model is "
          "installed ('' = none): the Low light preset asks for RVM, which sees an outline in the dark "
          "better but is too slow on a CPU. With a video-matting model the second opinion, mirror pass, "
          "tiles and zoom are left out. The status says whether it runs, and why not.",
          restarts_worker=True),
    Field("mirror_pass", "bool", False, "Mirror pass", "model",
          "Runs the model(s) on the mirrored frame as well and averages the two answers: a dark or "
          "cluttered background a model takes for a person in one view it often rejects in the other. "
          "Doubles the inference time."),
    Field("wide_tiles", "bool", False, "Wide-frame tiles", "model",
          "On a frame much wider than a square model's input, the model also looks at square tiles of it, "
          "so people at the sides are not squeezed into a few columns (the Multi-person preset uses it). "
          "Two inferences for a 16:9 frame, three for 21:9; a frame wider than four squares is seen whole."),
    Field("subject_zoom", "bool", False, "Subject zoom", "model",
          "A quick look at the whole frame finds you, then the model(s) look again at a crop around you, so "
          "you fill the model's small input and the outline (hair, hands, a dark sleeve) gets more of its "
          "pixels. One more inference of the first model."),
    Field("zoom_margin", "float", 0.15, "Zoom margin", "model",
          "How much of the surroundings the subject zoom's crop takes in, as a share of your size on each "
          "side: more is safer in front of clutter (the Café preset uses 0.3), less zooms in further.",
          0.05, 1.0, 0.05),
    Field("device", "choice", "auto", "Device", "model",
          "Where the model runs. Auto tries CUDA, DirectML, CoreML, then CPU; TensorRT only when chosen "
          "(it needs NVIDIA's TensorRT installed and builds an engine on the first run).",
          choices=DEVICES, restarts_worker=True, in_preset=False),
    # One thread by default: the shipped models are small enough that onnxruntime's second thread costs
    # more in hand-over than it gains (2-core machine, session.run alone, 320x180 input: landscape 1.88 ms
    # with 1 thread vs 2.29 with 2; general 3.76 vs 4.28), and the other core stays free for OBS itself.
    Field("threads", "int", 1, "CPU threads", "model",
          "Threads onnxruntime may use on the CPU (0 = its own choice).", 0, 16, 1,
          restarts_worker=True, in_preset=False),
    Field("inference_size", "int", 320, "Inference size (long side, px)", "model",
          "Size of the small copy of the frame the model sees. Fixed-size models resize it again; "
          "video-matting models (RVM) use it as their input: larger is sharper and slower.", 128, 1280, 16),
    Field("max_masks_per_second", "float", 20.0, "Max masks per second", "model",
          "Cap on inference rate to spare the CPU/GPU (0 = as fast as possible).", 0.0, 120.0, 1.0),
    Field("low_light_boost", "float", 0.0, "Low-light boost", "model",
          "Raises the exposure of the model's input only (not your video) so dark scenes segment well.",
          0.0, 1.0, 0.05),
    Field("low_light_denoise", "float", 0.0, "Low-light denoise", "model",
          "Averages the model's input over the last frames where the picture is still, so camera grain in "
          "a dim room does not cost the model your outline (not your video; what moves follows at once).",
          0.0, 0.95, 0.05),
    # --- mask refinement: applied live ---
    Field("threshold", "float", 0.5, "Alpha threshold", "mask",
          "Centre of the soft ramp that turns the model's confidence into alpha.", 0.0, 1.0, 0.01),
    Field("softness", "float", 0.3, "Threshold softness", "mask",
          "Width of that ramp: 0 is a hard cut, larger keeps softer edges.", 0.0, 1.0, 0.01),
    # Sizes in pixels of a 720p frame (1280 long side), scaled to the real frame, so a preset does the
    # same at 480p and 1080p (fast_guided.output_px).
    Field("erode", "int", 0, "Erode / dilate (px at 720p)", "mask",
          "Shrinks (positive) or grows (negative) the person's edge by this many pixels of a 720p frame "
          "(scaled with the frame's size).", -20, 20, 1),
    Field("feather", "float", 4.0, "Edge feather (px at 720p)", "mask",
          "Softens the edge over this many pixels of a 720p frame, scaled with the frame's size (guided: "
          "the refinement's window radius).", 0.0, 60.0, 0.5),
    Field("feather_mode", "choice", "guided", "Edge refinement", "mask",
          "'guided' moves the edge onto the colour edges of the frame itself (hair, shoulders) and keeps it "
          "crisp; 'blur' is a plain blur.",
          choices=FEATHER_MODES),
    # A cost choice, not a look: presets leave it to the machine (fast_guided.GUIDE_KERNEL and
    # TEMPORAL_KEEP for the gains; tools/bench_obs.py --cases builtin_mask,ours_steady_spatial,ours_steady_edges).
    Field("edge_denoise", "choice", "auto", "Steady edges", "mask",
          "Averages out camera grain where the guided refinement reads the picture, so a still edge does "
          "not shimmer: 'on' over neighbouring pixels and, where the picture is still, over time (a moving "
          "edge follows at once); 'spatial' over neighbouring pixels only. 'auto' is 'on' with a GPU and "
          "off on software rendering (no GPU), where 'spatial' costs ~4 ms a 720p frame and 'on' (one more "
          "full-size pass) ~35 ms more.",
          choices=EDGE_DENOISE, in_preset=False),
    Field("temporal_smoothing", "float", 0.5, "Temporal smoothing", "mask",
          "Where the picture is still, how much of the previous mask carries over, to stop flicker. "
          "Where it moves, the mask follows at once.",
          0.0, 0.95, 0.05),
    # Off by default: the tuner (`obs-matting tune`, grid 0 / 0.005 / 0.01 / 0.02) chose 0 for all four
    # presets; at 0.01 the defaults lose a small person whole on the multi-person scene (only the cafe
    # scene gains a little from it, MAE 0.0162 vs 0.0168); and it is the costliest refinement step whenever
    # the model leaves a speck (`obs-matting bench`: refinement 0.7-0.8 ms with it, 0.2-0.3 ms without).
    Field("min_person_area", "float", 0.0, "Minimum person size", "mask",
          "Islands smaller than this fraction of the frame are removed; every person above it is kept "
          "(0 = off).", 0.0, 0.2, 0.005),
    # --- background: applied live ---
    Field("background", "choice", "transparent", "Background", "background",
          "What replaces the background.", choices=BACKGROUNDS),
    Field("background_color", "color", "#00FF00", "Background colour", "background",
          "Colour used when the background is 'color' (and to flatten JPEG output)."),
    Field("blur_strength", "float", 12.0, "Background blur strength (px)", "background",
          "Blur radius of the background when the background is 'blur'.", 0.0, 64.0, 1.0),
    Field("background_image", "path", "", "Background image", "background",
          "Image file used when the background is 'image'; its transparent parts show the background "
          "colour.", in_preset=False),
    Field("image_fit", "choice", "fill", "Background image fit", "background",
          "'fill' covers the frame (cropping), 'fit' shows the whole image (letterboxed).",
          choices=IMAGE_FITS),
    # --- timing ---
    Field("sync_video", "bool", False, "Keep video in sync with the mask", "timing",
          "Delays the video by the mask's age so the mask never lags a moving person."),
)

FIELDS_BY_KEY = {f.key: f for f in FIELDS}
LIVE_KEYS = frozenset(f.key for f in FIELDS if not f.restarts_worker)
RESTART_KEYS = frozenset(f.key for f in FIELDS if f.restarts_worker)


def parse_color(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> (r, g, b)."""
    if not isinstance(text, str) or not _COLOR_RE.match(text):
        raise SettingsError(f"not a colour '#RRGGBB': {text!r}")
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def _out_of_range(field: Field, shown: str) -> SettingsError:
    return SettingsError(f"'{field.key}' must be between {field.minimum} and {field.maximum}, got {shown}",
                         field=field.key)


def _coerce_number(field: Field, value: Any) -> int | float:
    """An int or float field's value, checked: finite, whole for an int field, within the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"'{field.key}' must be a number, got {value!r}", field=field.key)
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float (JSON allows 400 digits): beyond every field's range
        raise _out_of_range(field, "a number too large to use") from None
    # NaN passes every range check (nan < min and nan > max are both false) and would silently give an
    # empty matte; infinity has no whole value (int() raises)
    if not math.isfinite(number):
        raise SettingsError(f"'{field.key}' must be a finite number, got {value!r}", field=field.key)
    if field.kind == "int":
        if number != int(number):
            raise SettingsError(f"'{field.key}' must be a whole number, got {value!r}", field=field.key)
        value = int(value)
    else:
        value = number
    if field.minimum is not None and value < field.minimum or \
            field.maximum is not None and value > field.maximum:
        raise _out_of_range(field, repr(value))
    return value


def coerce_value(field: Field, value: Any) -> Any:
    """Check one value against its field; return it in its canonical type or raise SettingsError."""
    k = field.kind
    if k == "bool":
        if isinstance(value, bool):
            return value
        raise SettingsError(f"'{field.key}' must be true or false, got {value!r}", field=field.key)
    if k in ("int", "float"):
        return _coerce_number(field, value)
    if not isinstance(value, str):
        raise SettingsError(f"'{field.key}' must be text, got {value!r}", field=field.key)
    if k == "choice" and value not in field.choices:
        raise SettingsError(f"'{field.key}' must be one of {', '.join(field.choices)}, got {value!r}",
                            field=field.key)
    if k == "color":
        try:
            parse_color(value)
        except SettingsError:
            raise SettingsError(f"'{field.key}' must be a colour like '#RRGGBB', got {value!r}",
                                field=field.key) from None
        return value.upper()
    return value


class MatteSettings:
    """An immutable, validated set of values for every field (missing ones take the default)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any] | None = None, *, allowed: Iterable[str] | None = None):
        values = dict(values or {})
        allowed_keys = set(allowed) if allowed is not None else set(FIELDS_BY_KEY)
        unknown = sorted(set(values) - allowed_keys)
        if unknown:
            raise SettingsError(f"unknown setting '{unknown[0]}'", field=unknown[0])
        out = {}
        for f in FIELDS:
            out[f.key] = coerce_value(f, values[f.key]) if f.key in values else f.default
        object.__setattr__(self, "_values", out)

    def __getattr__(self, key: str) -> Any:
        try:
            return object.__getattribute__(self, "_values")[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        raise AttributeError("MatteSettings is immutable; use replace()")

    def __reduce__(self):
        # copy, deepcopy and pickle rebuild an object by setting its attributes, which __setattr__ refuses:
        # they call the constructor with the values instead (validated again, which they pass)
        return MatteSettings, (self._values,)

    def __eq__(self, other) -> bool:
        return isinstance(other, MatteSettings) and self._values == other._values

    def __hash__(self):
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return f"MatteSettings({self._values!r})"

    def replace(self, **changes: Any) -> "MatteSettings":
        return MatteSettings({**self._values, **changes})

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def needs_restart(self, other: "MatteSettings") -> bool:
        """True when going from self to other needs a new model session (model, device, threads)."""
        return any(self._values[k] != other._values[k] for k in RESTART_KEYS)

    @property
    def color_rgb(self) -> tuple[int, int, int]:
        return parse_color(self.background_color)
