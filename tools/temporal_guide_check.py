"""Does the temporal guide filter (steady edges' temporal half, fast_guided.TemporalGuide) cost anything
on moving content? The same masks are finished with and without it, so only the full-size guide differs.

1. Moving portraits with exact truth: the studio scene's composites slid sideways by SPEED px a frame
   (truth slid with them), fresh camera noise (sigma 2 levels) on every frame; MAE and edge error
   against the truth, with and without the filter (frame 0, identical by construction, left out).
2. The real videos of ../shared/eval/video (the eval's frames): how far the filtered alpha moves from
   the unfiltered one, over the whole frame and on the edge band (0.02 < alpha < 0.98), in frames that
   move (lag or smear would show there) -- the videos have no truth.
3. The still portrait with fresh noise (the eval's still_flicker): flicker with and without.

    PYTHONPATH=lib python tools/temporal_guide_check.py [--preset studio] [--speeds 2,6,12]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from obsmatte import compose, fast_guided  # noqa: E402
from obsmatte.evaluation import metrics, scenes, videos  # noqa: E402
from obsmatte.pipeline import MaskPipeline  # noqa: E402
from obsmatte.presets import get_preset  # noqa: E402

NOISE = 2.0
FRAMES = 12


def shift(img: np.ndarray, dx: float, border) -> np.ndarray:
    h, w = img.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)


def finish_both(pipeline: MaskPipeline, frames, settings, keep: float):
    """(plain alphas, filtered alphas) for the same masks."""
    pipeline.reset()
    tg = fast_guided.TemporalGuide(keep)
    plain, filtered = [], []
    for f in frames:
        m = pipeline.process(f)
        plain.append(compose.finish_alpha(m, f, settings))
        filtered.append(compose.finish_alpha(m, f, settings, tg).copy())
    return plain, filtered


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="studio")
    ap.add_argument("--speeds", default="1,3,8", help="px per frame (at the eval's working size)")
    ap.add_argument("--keep", type=float, default=fast_guided.TEMPORAL_KEEP)
    ap.add_argument("--portraits", type=int, default=4)
    ap.add_argument("--video-frames", type=int, default=40)
    args = ap.parse_args()
    settings = get_preset(args.preset).apply().replace(edge_denoise="on")
    pipeline = MaskPipeline(settings)
    rng = np.random.default_rng(3)
    print(f"preset {args.preset}, keep {args.keep}, motion gate {fast_guided.GATE_SIGMAS} x the guide noise (at least {fast_guided.GATE_MIN} levels)")

    samples = scenes.build_studio(scenes.load_portraits(limit=args.portraits))
    for speed in (float(s) for s in args.speeds.split(",")):
        rows = []
        for s in samples:
            frames, truths = [], []
            for t in range(FRAMES):
                img = shift(s.image, speed * t, cv2.BORDER_REFLECT).astype(np.float32)
                frames.append(np.clip(np.rint(img + rng.normal(0, NOISE, img.shape)), 0, 255).astype(np.uint8))
                truths.append(shift(s.alpha, speed * t, cv2.BORDER_REFLECT))
            plain, filtered = finish_both(pipeline, frames, settings, args.keep)
            for a, b, tr in list(zip(plain, filtered, truths))[1:]:
                rows.append((metrics.mae(a, tr), metrics.mae(b, tr), metrics.edge_error(a, tr), metrics.edge_error(b, tr)))
        r = np.mean(rows, axis=0)
        print(f"moving {speed:g} px/frame ({len(rows)} frames): MAE {r[0]:.5f} -> {r[1]:.5f} ({r[1] / r[0] - 1:+.2%}), "
              f"edge {r[2]:.5f} -> {r[3]:.5f} ({r[3] / r[2] - 1:+.2%})")

    for seq in videos.load_videos(args.video_frames):
        plain, filtered = finish_both(pipeline, seq.frames, settings, args.keep)
        whole, band, moving = [], [], []
        for t in range(1, len(plain)):
            e = (plain[t] > 0.02) & (plain[t] < 0.98)
            grey = [cv2.cvtColor(seq.frames[k], cv2.COLOR_RGB2GRAY).astype(np.float32) for k in (t - 1, t)]
            moved = np.abs(grey[1] - grey[0]) > 12
            d = np.abs(plain[t] - filtered[t])
            whole.append(d.mean())
            band.append(d[e].mean() if e.any() else 0.0)
            if (e & moved).any():
                moving.append(d[e & moved].mean())
        print(f"video {seq.name} ({len(plain)} frames): mean |filtered - plain| whole {np.mean(whole):.5f}, "
              f"edge band {np.mean(band):.5f}, moving edge pixels {np.mean(moving) if moving else 0:.5f}")

    still = videos.still_sequence()
    plain, filtered = finish_both(pipeline, still.frames, settings, args.keep)
    def flick(al):
        return float(np.mean([np.abs(a - b).mean() for a, b in zip(al[1:], al[:-1])]))
    print(f"still portrait, fresh noise ({len(plain)} frames): flicker {flick(plain):.6f} -> {flick(filtered):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
