"""`obs-matting` / `python -m obsmatte`: the engine outside OBS (image, batch, video, screen, models,
presets, bench, eval, tune).

Every knob of the settings schema is also a flag (--threshold, --erode, ...), applied on top of the
preset, so the command line, the presets and the OBS properties share one vocabulary.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from . import __version__
from .errors import MattingError
from .settings import FIELDS, MatteSettings

# Short aliases for the flags people type most.
_ALIASES = {"background_color": ["--color"]}


def _add_setting_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override the preset)")
    g.add_argument("--preset", help="studio, cafe, multi_person, low_light, or a preset .json file")
    for f in FIELDS:
        flags = ["--" + f.key.replace("_", "-"), *_ALIASES.get(f.key, [])]
        kw = {"dest": f.key, "default": None, "help": f.help}
        if f.kind == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif f.kind == "int":
            kw["type"] = int
        elif f.kind == "float":
            kw["type"] = float
        if f.choices:
            kw["choices"] = f.choices
        if f.minimum is not None and f.kind in ("int", "float"):
            kw["help"] += f" [{f.minimum:g}..{f.maximum:g}, default {f.default}]"
        elif f.default not in ("", None):
            kw["help"] += f" [default {f.default}]"
        g.add_argument(*flags, **kw)


def settings_from_args(args: argparse.Namespace) -> MatteSettings:
    """Defaults, then the preset, then the flags that were given."""
    from .presets import get_preset
    settings = MatteSettings()
    if getattr(args, "preset", None):
        settings = get_preset(args.preset).apply(settings)
    given = {f.key: getattr(args, f.key) for f in FIELDS if getattr(args, f.key, None) is not None}
    return settings.replace(**given) if given else settings


# --- argument types: a bad value is argparse's one-line error (exit 2), not a traceback or a nonsense run

def _checked(text: str, convert, ok, what: str):
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _checked(text, int, lambda v: v >= 1, "a whole number >= 1")


def non_negative_int(text: str) -> int:
    return _checked(text, int, lambda v: v >= 0, "a whole number >= 0")


def positive_float(text: str) -> float:
    return _checked(text, float, lambda v: math.isfinite(v) and v > 0, "a number > 0")


def non_negative_float(text: str) -> float:
    return _checked(text, float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")


def size_wh(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720): two positive whole numbers."""
    def convert(t: str) -> tuple[int, int]:
        w, h = t.lower().split("x")  # a ValueError for anything but two parts
        return int(w), int(h)
    return _checked(text, convert, lambda wh: min(wh) >= 1, "WIDTHxHEIGHT in pixels, e.g. 1280x720")


def build_parser() -> argparse.ArgumentParser:
    from . import commands  # the verbs live there, one function each
    parser = argparse.ArgumentParser(prog="obs-matting", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"obs-matting {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("image", help="matte one image")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--format", choices=("png", "jpg"), help="output format (default: from the output name)")
    p.add_argument("--save-alpha", action="store_true", help="also write the matte as <output>_alpha.png")
    _add_setting_flags(p)
    p.set_defaults(func=commands.cmd_image)

    p = sub.add_parser("batch", help="matte every image in a folder")
    p.add_argument("input_dir")
    p.add_argument("output_dir")
    p.add_argument("--format", choices=("png", "jpg"), default="png")
    p.add_argument("--save-alpha", action="store_true")
    p.add_argument("--zip", action="store_true", help="also pack the results into a timestamped .zip")
    _add_setting_flags(p)
    p.set_defaults(func=commands.cmd_batch)

    p = sub.add_parser("video", help="matte a video file frame by frame (with temporal state)")
    p.add_argument("input")
    p.add_argument("output", help="a .mp4/.avi file (flattened onto the colour unless the background is "
                                  "blur/image), or a folder for a PNG sequence with alpha")
    p.add_argument("--max-frames", type=non_negative_int, default=0, help="stop after N frames (0 = all)")
    _add_setting_flags(p)
    p.set_defaults(func=commands.cmd_video)

    p = sub.add_parser("screen", help="matte a screen region live (shown in a window or written to a file)")
    p.add_argument("--region", help="X,Y,W,H in pixels (default: the whole primary monitor); a negative X or Y "
                                    "needs the --region=-10,0,100,100 form")
    p.add_argument("--seconds", type=non_negative_float, default=0, help="stop after N seconds (0 = until q/Esc)")
    p.add_argument("--out", help="write a video file instead of showing a window")
    p.add_argument("--fps", type=positive_float, default=15.0, help="frames per second written to --out")
    _add_setting_flags(p)
    p.set_defaults(func=commands.cmd_screen)

    p = sub.add_parser("models", help="list the models, where their files are, and their licenses")
    p.set_defaults(func=commands.cmd_models)

    p = sub.add_parser("presets", help="list the presets and where they come from")
    p.set_defaults(func=commands.cmd_presets)

    p = sub.add_parser("bench", help="time every available model and the pipeline at 1280x720")
    p.add_argument("--runs", type=positive_int, default=60, help="timed runs per model and input")
    p.add_argument("--models", help="comma-separated model ids (default: every model whose file exists)")
    p.add_argument("--size", type=size_wh, default="1280x720", help="input size WxH")
    p.add_argument("--presets", help="comma-separated preset ids (or 'all'): time each preset's whole mask "
                                     "pipeline (its models and views) instead of the models")
    p.set_defaults(func=commands.cmd_bench)

    try:
        from .evaluation.cli import register as register_evaluation
    except ImportError:
        register_evaluation = None
    if register_evaluation is not None:
        register_evaluation(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MattingError as e:
        print(f"obs-matting: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("obs-matting: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
