"""How much a low-light figure owes to the one noise draw the eval scores (figures to read, nothing asserted).

    PYTHONPATH=lib .venv/bin/python tools/low_light_draws.py [--model mediapipe_selfie_general] [--draws 15]
        "shipped" "no_mirror:mirror_pass=false" "t0.6:threshold=0.6" ...

`obs-matting eval` darkens the 12 portraits once (one noise seed, one exposure, one set of backdrops).
A few portraits carry most of the error there, and whether the model takes a dark background for a
person in them changes from one noise draw to the next, so one draw can rank two methods either way.
This scores each variant (the Low light preset with `key=value` overrides; "shipped" = none) and the
peer baseline on the same model over several draws of the same scene: draw 0 is the eval's own, the
others change the noise seed, the exposure (0.08-0.3), the backdrops' seeds and which portraits get a
studio or a cafe backdrop. Stills only (dark and normal light): MAE against the baseline's, IoU in the
dark, IoU lost against normal light (on the dark frame, and live: on the last of runner.LIVE_FRAMES
noisy frames of it). Per draw, then the mean and the worst over the draws.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from obsmatte import paths  # noqa: E402
from obsmatte.evaluation.methods import BASELINE, Method, load_matter  # noqa: E402
from obsmatte.evaluation.runner import Runner, score_stills  # noqa: E402
from obsmatte.evaluation.scenes import build_low_light, load_portraits  # noqa: E402
from obsmatte.presets import load_preset_file  # noqa: E402
from obsmatte.settings import FIELDS_BY_KEY, MatteSettings  # noqa: E402

EXPOSURES = (0.08, 0.1, 0.15, 0.2, 0.3)


def draw(k: int) -> dict:
    """Draw 0 is the eval's scene; draw k changes every random choice of it."""
    if k == 0:
        return {}
    return {"noise_seed": 3000 + 1000 * k, "exposure": EXPOSURES[k % len(EXPOSURES)],
            "background_seed": 300 + 50 * k, "swap_backgrounds": bool(k % 2)}


def parse_variant(text: str, preset: MatteSettings) -> tuple[str, MatteSettings]:
    name, _, overrides = text.partition(":")
    values = {}
    for item in filter(None, overrides.split(",")):
        key, _, raw = item.partition("=")
        kind = FIELDS_BY_KEY[key].kind
        values[key] = {"bool": lambda v: v.lower() in ("1", "true", "on"), "int": int,
                       "float": float}.get(kind, str)(raw)
    return name, preset.replace(**values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="+", help='"name" or "name:key=value,key=value" (on the Low light preset)')
    ap.add_argument("--model", default="mediapipe_selfie_general")
    ap.add_argument("--draws", type=int, default=15)
    args = ap.parse_args()
    preset = load_preset_file(paths.PRESETS_DIR / "low_light.json").apply().replace(model=args.model)
    variants = [parse_variant(v, preset) for v in args.variants]
    matter = load_matter(args.model)
    portraits = load_portraits()
    rows = {name: [] for name, _ in variants}
    print(f"model {args.model}; per draw: MAE vs the baseline's / IoU in the dark / IoU lost to the dark")
    for k in range(args.draws):
        d = draw(k)
        samples = build_low_light(portraits, **d)
        base, _ = score_stills(Runner(Method(BASELINE, None), matter), samples)
        line = f"draw {k:2d} {'(eval)' if k == 0 else str(d):92s} baseline {base.mae:.4f}"
        for name, settings in variants:
            s, _ = score_stills(Runner(Method(name, settings), matter), samples)
            rows[name].append((s.mae / base.mae - 1, s.iou, s.iou_loss, s.edge / base.edge, s.iou_loss_live))
            line += f" | {name} {s.mae / base.mae - 1:+.1%} {s.iou:.3f} {s.iou_loss:.3f} live {s.iou_loss_live:.3f}"
        print(line, flush=True)
    for name, r in rows.items():
        a = np.array(r)
        print(f"{name}: MAE vs baseline mean {a[:, 0].mean():+.1%}, worst {a[:, 0].max():+.1%}, "
              f"{int((a[:, 0] <= -0.2).sum())}/{len(a)} draws at -20% or better; IoU in the dark mean "
              f"{a[:, 1].mean():.3f}; IoU lost mean {a[:, 2].mean():.3f} (live {a[:, 4].mean():.3f}, worst "
              f"{a[:, 4].max():.3f}); edge vs baseline mean x{a[:, 3].mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
