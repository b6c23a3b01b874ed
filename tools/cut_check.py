"""Cuts and pans: does the motion gate (refine.frame_change_gate) tell them from a still picture, and what
lingers of the old picture without the cut rule (figures to read, nothing asserted).

1. The cut statistic (refine.cut_statistic: the median box-averaged grey change, less the frame's mean
   change) on consecutive frames of the real videos (clean, and darkened with fresh noise per frame), on
   the still portrait with fresh noise, on cuts between the evaluation portraits (normal and their dark
   low-light versions), on an exposure step and on pans; the rule fires above refine._CUT_LEVEL.
2. A cut between two portraits through a preset's whole mask pipeline (real model), with and without the
   cut rule, side by side: the share of mask pixels whose alpha is more than 0.5 away from what the same
   pipeline gives the new portrait on its own, on the 1st, 2nd, 3rd and 10th frame after the cut; and for
   the Low light preset's input denoiser, how much of the old picture the model's input still holds.

    PYTHONPATH=lib .venv/bin/python tools/cut_check.py [--preset studio] [--pairs 4]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from obsmatte import refine  # noqa: E402
from obsmatte.evaluation import scenes, videos  # noqa: E402
from obsmatte.pipeline import MaskPipeline  # noqa: E402
from obsmatte.presets import get_preset  # noqa: E402

SIZE = (640, 360)  # frames of a 16:9 webcam, as the OBS worker's copies are shaped
AFTER = (1, 2, 3, 10)


def statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The cut statistic between two RGB frames, at the gate's size for a 256x144 mask."""
    shape = refine.gate_shape((144, 256))
    return refine.cut_statistic(refine.grey_at(b, shape), refine.grey_at(a, shape))


def consecutive(frames) -> np.ndarray:
    return np.array([statistic(a, b) for a, b in zip(frames, frames[1:])])


def print_statistics(normal, dark) -> None:
    print(f"1. cut statistic (the rule fires above {refine._CUT_LEVEL}):")
    vids = videos.load_videos(120)
    for seq in vids + [videos.darkened(v) for v in vids] + [videos.still_sequence()]:
        s = consecutive([cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in seq.frames])
        print(f"   consecutive frames, {seq.name:<28} max {s.max():.2f}  99th percentile {np.percentile(s, 99):.2f}")
    for name, frames in (("portraits", normal), ("dark portraits", dark)):
        s = consecutive(frames)
        print(f"   cuts between {name:<17} min {s.min():.2f}  median {np.median(s):.2f}")
    f = normal[0]
    for gain in (1.05, 1.15):
        print(f"   exposure x{gain:<24} {statistic(f, cv2.convertScaleAbs(f, alpha=gain)):.2f}")
    for px in (2, 4, 16):
        moved = cv2.warpAffine(f, np.float32([[1, 0, px], [0, 1, 0]]), SIZE, borderMode=cv2.BORDER_REFLECT)
        print(f"   pan {px:>2} px a frame              {statistic(f, moved):.2f}")


def wrong_after_cut(preset_id: str, pairs, noise: float) -> np.ndarray:
    """Per pair, the share of mask pixels > 0.5 off the new portrait's own alpha, at the AFTER frames."""
    settings = get_preset(preset_id).apply()
    rng = np.random.default_rng(0)

    def grain(f):
        return np.clip(f + rng.normal(0, noise, f.shape), 0, 255).astype(np.uint8)

    out = []
    for old, new in pairs:
        alone = MaskPipeline(settings)
        for _ in range(12):
            want = alone.process(grain(new))
        pipeline = MaskPipeline(settings)
        for _ in range(12):
            pipeline.process(grain(old))
        got = [pipeline.process(grain(new)) for _ in range(max(AFTER))]
        out.append([float((np.abs(got[k - 1] - want) > 0.5).mean()) for k in AFTER])
    return np.array(out)


def denoiser_memory(pairs, strength: float) -> np.ndarray:
    """How much of the old picture the low-light denoiser's output still holds after a cut: the least-squares
    weight of (old - new) in (output - new), at the AFTER frames, the mean over the pairs."""
    out = []
    for old, new in pairs:
        den = refine.InputDenoiser(strength)
        for _ in range(12):
            den.update(old)
        small = [cv2.resize(x, (320, 180), interpolation=cv2.INTER_AREA).astype(np.float32) for x in (old, new)]
        diff = small[0] - small[1]
        got = [den.update(new).astype(np.float32) - small[1] for _ in range(max(AFTER))]
        out.append([float((got[k - 1] * diff).sum() / max((diff * diff).sum(), 1e-6)) for k in AFTER])
    return np.array(out).mean(axis=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="studio")
    ap.add_argument("--pairs", type=int, default=4)
    args = ap.parse_args()
    portraits = scenes.load_portraits()
    normal = [cv2.resize(p.rgb, SIZE, interpolation=cv2.INTER_AREA) for p in portraits]
    dark = [cv2.resize(s.image, SIZE, interpolation=cv2.INTER_AREA) for s in scenes.build_low_light(portraits)]
    print_statistics(normal, dark)
    pairs = [(normal[2 * i], normal[2 * i + 1]) for i in range(args.pairs)]
    rule = refine._CUT_LEVEL
    print(f"2. a cut between two portraits ({args.pairs} pairs), preset {args.preset}: share of mask pixels > 0.5 off "
          f"on frames {AFTER} after it, mean (worst pair)")
    for name, level in (("without the cut rule", float("inf")), ("with it", rule)):
        refine._CUT_LEVEL = level
        w = wrong_after_cut(args.preset, pairs, 2.0)
        print(f"   {name:<22}" + "  ".join(f"{m:.4f} ({x:.4f})" for m, x in zip(w.mean(axis=0), w.max(axis=0))))
    print(f"   low-light denoiser (strength {get_preset('low_light').apply().low_light_denoise}): share of the old "
          f"picture left in the model's input on frames {AFTER}")
    for name, level in (("without the cut rule", float("inf")), ("with it", rule)):
        refine._CUT_LEVEL = level
        m = denoiser_memory(pairs, get_preset("low_light").apply().low_light_denoise)
        print(f"   {name:<22}" + "  ".join(f"{x:.3f}" for x in m))
    refine._CUT_LEVEL = rule
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
