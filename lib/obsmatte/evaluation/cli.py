"""The `eval` and `tune` subcommands. `register(subparsers)` adds them to obs-matting's parser;
`python -m obsmatte.evaluation.cli eval|tune ...` runs them on their own."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import paths
from ..errors import MattingError
from .scenes import SCENES

DEFAULT_MODEL = "mediapipe_selfie_landscape"
PRESET_IDS = ("studio", "cafe", "multi_person", "low_light")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _command_line(prefix: str, argv: list[str] | None) -> str:
    return " ".join([prefix, *(argv if argv is not None else sys.argv[1:])])


def _given_command(args) -> str:
    """The command as typed (recorded in the report and the presets' tuning blocks)."""
    return getattr(args, "command_line", None) or _command_line("obs-matting", None)


def cmd_eval(args) -> int:
    from .evaluate import run_eval
    from .report import write_report
    t0 = time.perf_counter()
    result = run_eval(args.scenes, args.presets, quick=args.quick, model_id=args.model,
                      proposed=not args.no_proposed)
    out = Path(args.out)
    path = write_report(result, out, _given_command(args))
    print(f"wrote {path} in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_tune(args) -> int:
    from .tune import run_tune
    ids = [args.preset] if args.preset else list(PRESET_IDS)
    run_tune(ids, args.budget, args.model, args.video_frames, seed=args.seed,
             write=not (args.dry_run or args.proposed), command=_given_command(args), proposed=args.proposed,
             tune_on=args.tune_on, objective=args.objective)
    return 0


def _scene_list(text: str) -> list[str]:
    items = _csv(text)
    for s in items:
        if s not in SCENES:
            raise argparse.ArgumentTypeError(f"unknown scene '{s}' (known: {', '.join(SCENES)})")
    return items


def register(subparsers) -> None:
    """Add `eval` and `tune` to an argparse subparsers object."""
    p = subparsers.add_parser("eval", help="measure matte quality per scene: presets vs the peer baseline")
    p.add_argument("--scenes", type=_scene_list, default=None,
                   help=f"comma-separated scenes (default: all of {', '.join(SCENES)})")
    p.add_argument("--presets", type=_csv, default=None, help="comma-separated preset ids (default: all)")
    p.add_argument("--out", default=str(paths.ROOT / "docs" / "quality"),
                   help="folder for quality.md, the plots and the pictures [default docs/quality]")
    p.add_argument("--quick", action="store_true", help="3 portraits and a few frames (for tests)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model id [default {DEFAULT_MODEL}]")
    p.add_argument("--no-proposed", action="store_true", help="skip the prototype refinement row")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("tune", help="search each preset's values on its scene; writes presets/*.json")
    p.add_argument("--preset", choices=PRESET_IDS, help="only this preset (default: all four)")
    p.add_argument("--budget", type=int, default=40, help="random candidates per preset [default 40]")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model id [default {DEFAULT_MODEL}]")
    p.add_argument("--video-frames", type=int, default=40, help="frames per video for flicker [default 40]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tune-on", choices=("tune", "all"), default="tune",
                   help="portraits searched on: the tuning split, with 4 held out [default], or all 12 "
                        "(more data for the values, but no held-out figure)")
    p.add_argument("--objective", choices=("mae", "ratio"), default="mae",
                   help="mae: the mean MAE; ratio: the geometric mean over images of MAE / the baseline's "
                        "(every image counts alike) [default mae]")
    p.add_argument("--dry-run", action="store_true", help="search and print, but do not write the presets")
    p.add_argument("--proposed", action="store_true",
                   help="search with the prototype refinement instead (prints only; never writes presets)")
    p.set_defaults(func=cmd_tune)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m obsmatte.evaluation.cli",
                                     description="matte-quality benchmark and preset tuning")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    args = parser.parse_args(argv)
    args.command_line = _command_line("obs-matting", argv)
    try:
        return args.func(args)
    except MattingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
