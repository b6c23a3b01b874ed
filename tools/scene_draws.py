"""How much a scene's figure owes to the one draw the eval scores (figures to read, nothing asserted).

    PYTHONPATH=lib .venv/bin/python tools/scene_draws.py [--scene low_light|cafe|studio|multi_person] [--model M]
        [--draws N] [--first K]
        "shipped" "no_mirror:mirror_pass=false" "t0.6:threshold=0.6" ...

`obs-matting eval` builds each scene once: one set of backdrops (and, in the dark, one noise seed and one
exposure). A few portraits carry most of the error there, and whether the model takes part of a backdrop
for a person in them changes with the backdrop or the noise itself, so one draw can rank two methods
either way. This scores each variant (the scene's preset with `key=value` overrides; "shipped" = none: the
preset file as it is now, so to repeat a comparison made before a preset changed, give its values then)
and the peer baseline on the same model over several draws of the same scene; draw 0 is the eval's own.
- low_light: the others change the noise seed, the exposure (0.08-0.3), the backdrops' seeds and which
  portraits get a studio or a cafe backdrop. Also IoU in the dark and IoU lost against normal light (on
  the dark frame, and live: on the last of runner.LIVE_FRAMES noisy frames of it).
- cafe: the others crop the real photos elsewhere and pair them with other portraits.
- studio: the others give each portrait another backdrop colour and kind.
- multi_person: the others put other people side by side, over other backdrops; also the worst person
  recall and the persons lost (recall < 0.95).
Stills only: MAE against the baseline's and edge error. Per draw, then the mean and the worst.
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
from obsmatte.evaluation.scenes import (build_cafe, build_low_light, build_multi_person, build_studio,  # noqa: E402
                                        load_portraits)
from obsmatte.presets import load_preset_file  # noqa: E402
from obsmatte.settings import FIELDS_BY_KEY, MatteSettings  # noqa: E402

EXPOSURES = (0.08, 0.1, 0.15, 0.2, 0.3)
SCENES = ("low_light", "cafe", "studio", "multi_person")


def draw(scene: str, k: int) -> dict:
    """Draw 0 is the eval's scene; draw k changes every random choice of it."""
    if k == 0:
        return {}
    if scene == "multi_person":
        return {"order_seed": k, "background_offset": 13 * k}
    if scene in ("cafe", "studio"):
        # 12 portraits: every draw has backdrops of its own (13: another pairing with the 8 photos/colours)
        return {"background_offset": 13 * k}
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


def main(argv: list[str] | None = None, scene: str | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="+", help='"name" or "name:key=value,key=value" (on the scene\'s preset)')
    ap.add_argument("--scene", choices=SCENES, default=scene or "low_light")
    ap.add_argument("--model", default=None, help="default: the scene's preset's model")
    ap.add_argument("--draws", type=int, default=15)
    ap.add_argument("--first", type=int, default=0, help="first draw (to check values chosen on earlier draws)")
    args = ap.parse_args(argv)
    preset = load_preset_file(paths.PRESETS_DIR / f"{args.scene}.json").apply()
    model = args.model or preset.model
    preset = preset.replace(model=model)
    dark = args.scene == "low_light"
    build = {"low_light": build_low_light, "cafe": build_cafe, "studio": build_studio,
             "multi_person": build_multi_person}[args.scene]
    multi = args.scene == "multi_person"
    variants = [parse_variant(v, preset) for v in args.variants]
    matter = load_matter(model)
    portraits = load_portraits()
    rows = {name: [] for name, _ in variants}
    print(f"scene {args.scene}, model {model}; per draw: MAE vs the baseline's"
          + (" / IoU in the dark / IoU lost to the dark" if dark else " / edge error vs the baseline's"))
    for k in range(args.first, args.first + args.draws):
        d = draw(args.scene, k)
        samples = build(portraits, **d)
        base, _ = score_stills(Runner(Method(BASELINE, None), matter), samples)
        line = f"draw {k:2d} {'(eval)' if k == 0 else str(d):92s} baseline {base.mae:.4f}"
        for name, settings in variants:
            s, _ = score_stills(Runner(Method(name, settings), matter), samples)
            rows[name].append((s.mae / base.mae - 1, s.edge / base.edge, s.iou, s.iou_loss, s.iou_loss_live,
                               s.recall_min, s.persons_lost))
            line += f" | {name} {s.mae / base.mae - 1:+.1%} " + (
                f"{s.iou:.3f} {s.iou_loss:.3f} live {s.iou_loss_live:.3f}" if dark else f"x{s.edge / base.edge:.2f}")
            if multi:
                line += f" recall {s.recall_min:.3f} lost {s.persons_lost}"
        if multi:
            line += f" | baseline lost {base.persons_lost}"
        print(line, flush=True)
    for name, r in rows.items():
        a = np.array(r)
        text = (f"{name}: MAE vs baseline mean {a[:, 0].mean():+.1%}, worst {a[:, 0].max():+.1%}, "
                f"{int((a[:, 0] <= -0.2).sum())}/{len(a)} draws at -20% or better; edge vs baseline mean "
                f"x{a[:, 1].mean():.3f}, worst x{a[:, 1].max():.3f}")
        if dark:
            text += (f"; IoU in the dark mean {a[:, 2].mean():.3f}; IoU lost mean {a[:, 3].mean():.3f} "
                     f"(live {a[:, 4].mean():.3f}, worst {a[:, 4].max():.3f})")
        if multi:
            text += f"; worst recall {a[:, 5].min():.3f}, persons lost {int(a[:, 6].sum())} in all"
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
