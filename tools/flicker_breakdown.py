"""Where the flicker comes from, and whether motion is followed (figures to read, nothing asserted).

    PYTHONPATH=lib .venv/bin/python tools/flicker_breakdown.py [--frames 120] [--presets studio,cafe]
                                                               [--smear-only | --timing-only]

For each preset on its own scene's videos (the low-light preset on the darkened ones, as
`obs-matting eval` does) and for the peer baseline, the flicker of `obs-matting eval` (mean
|alpha(t) - alpha(t-1)| on the reference background + interior, videos.reference_regions) is split:

- by stage: the raw model prob, the prob after TemporalSmoother, the alpha after soft_threshold +
  islands (each upsampled bilinearly to the frame), and the full-size finish (compose.finish_alpha);
- by region: background / interior, and by distance to the time-median 0.5 contour;
- into "motion" and "noise": a pixel-step counts as motion when the reference motion signal changed
  state there within the previous 10 or the next 2 frames (so a lagging method's change still counts).
  The reference motion signal is the raw model's prob, hard-cut at 0.5 after a centred 5-frame temporal
  median (non-causal: a 1-2 frame toggle is removed, a real movement of 3 frames or more is kept
  without delay). Its own flicker is the floor a matter that follows motion exactly, with
  no noise, would reach.
"old rule" rows run the same preset with the smoother given no frame: the confidence-gated rule that
shipped before the frame gate.

Smear test (not part of `obs-matting eval`): a portrait with its exact alpha composited over a photo,
still for 15 frames, then swaying left and right at up to ~24 px per frame, with fresh noise every frame
(darkened like the low-light scene for the low-light preset): flicker while still, MAE while moving,
the alpha left behind (trail) and the person missing at the leading edge.

Motion lag (not part of `obs-matting eval`): over the pixels where that reference signal changed
state at frame t, mean |alpha(t) - reference(t)| at t ("lag@0") and over t..t+2 ("lag@0-2"). A matter
that follows motion at once scores ~0; the peer's EMA (the new binary mask weighs 0.85) scores ~0.15 at t.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from obsmatte import compose, refine
from obsmatte.evaluation.evaluate import preset_methods
from obsmatte.evaluation.methods import load_matter
from obsmatte.evaluation.tune import SCENE_OF_PRESET
from obsmatte.evaluation.baseline import BaselinePipeline
from obsmatte.evaluation.videos import darkened, load_videos, reference_regions
from obsmatte.pipeline import MaskPipeline

MODEL = "mediapipe_selfie_landscape"  # what `obs-matting eval` runs every preset on
DISTANCE_BANDS = ((5, 10), (10, 20), (20, 40), (40, 10_000))  # px from the time-median contour


def _up(mask: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    return compose.upsample_mask(mask, wh)


def _step_means(stack: np.ndarray, region: np.ndarray) -> float:
    """The eval's flicker: per-step mean of |diff| over the region, averaged over steps."""
    if not region.any():
        return float("nan")
    d = np.abs(np.diff(stack, axis=0))[:, region]
    return float(d.mean())


# A pixel-step counts as motion from BEFORE to AFTER steps around a change of the reference there, so a
# method that lags (or leads) the reference by up to that much still has its change counted as motion.
MOTION_BEFORE, MOTION_AFTER = 2, 10


def motion_zone(changed: np.ndarray) -> np.ndarray:
    """(T-1, H, W) bool: within [-MOTION_BEFORE, +MOTION_AFTER] steps of a reference change."""
    zone = changed.copy()
    for k in range(1, MOTION_AFTER + 1):
        zone[k:] |= changed[:-k]
    for k in range(1, MOTION_BEFORE + 1):
        zone[:-k] |= changed[k:]
    return zone


def _masked_share(stack: np.ndarray, region: np.ndarray, motion: np.ndarray) -> tuple[float, float]:
    """(motion part, noise part) of _step_means: the same normaliser, the |diff| summed over the
    pixel-steps in the motion zone vs outside it."""
    d = np.abs(np.diff(stack, axis=0))[:, region]
    m = motion[:, region]
    n = d.shape[1]
    return float((d * m).sum(axis=1).mean() / n), float((d * ~m).sum(axis=1).mean() / n)


def motion_reference(probs: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """Full-size bool (T, H, W): raw prob, centred 5-frame temporal median, cut at 0.5."""
    t = probs.shape[0]
    padded = np.concatenate([probs[:1], probs[:1], probs, probs[-1:], probs[-1:]])
    med = np.median(np.stack([padded[i:i + t] for i in range(5)]), axis=0)
    return np.stack([_up(m, wh) >= 0.5 for m in med])


def motion_lag(alphas: np.ndarray, ref: np.ndarray, frames_after: int) -> float:
    changed = ref[1:] != ref[:-1]  # at step t (index t-1)
    errs, count = 0.0, 0
    for k in range(frames_after + 1):
        a = alphas[1 + k:]
        r = ref[1 + k:].astype(np.float32)
        c = changed[:changed.shape[0] - k]
        errs += float(np.abs(a - r)[c].sum())
        count += int(c.sum())
    return errs / max(count, 1)


def run_preset_stages(settings, matter, frames, gate_on_frame: bool = True):
    """Per frame: (raw prob, smoothed prob, mask alpha, full alpha, full alpha without the guide).

    gate_on_frame False gives the smoother no frame: its rule before frame gating (the confidence
    change itself decides what is motion)."""
    pipe = MaskPipeline(settings, matter=matter)
    raw, smooth, mask, full, plain = [], [], [], [], []
    h, w = frames[0].shape[:2]
    for f in frames:
        s = pipe.settings
        model_input = refine.condition_low_light(f, s.low_light_boost) if s.low_light_boost > 0 else f
        prob = matter.predict(model_input)
        p = pipe.smoother.update(prob, model_input if gate_on_frame else None)
        a = refine.remove_small_islands(refine.soft_threshold(p, s.threshold, s.softness), s.min_person_area)
        raw.append(_up(prob, (w, h)))
        smooth.append(_up(p, (w, h)))
        mask.append(_up(a, (w, h)))
        full.append(compose.finish_alpha(a, f, s))
        plain.append(compose.finish_alpha(a, f, s.replace(feather_mode="blur")) if s.feather_mode == "guided"
                     and s.feather > 0 else full[-1])
    return [np.stack(x) for x in (raw, smooth, mask, full, plain)]


def run_baseline(matter, frames):
    base = BaselinePipeline(matter)
    return np.stack([base.matte(f) for f in frames])


def distance_bands(matter, seq, wh):
    frames = seq.clean if seq.clean is not None else seq.frames
    med = np.median(np.stack([matter.predict(f) for f in frames]), axis=0)
    inside = (_up(med, wh) >= 0.5).astype(np.uint8)
    dist = np.maximum(cv2.distanceTransform(inside, cv2.DIST_L2, 5), cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5))
    return dist


def report(preset_ids, n_frames):
    matter = load_matter(MODEL)
    videos = load_videos(n_frames)
    methods = {m.name: m.settings for m in preset_methods(preset_ids, MODEL)}
    for pid, settings in methods.items():
        dark = SCENE_OF_PRESET[pid] == "low_light"
        print(f"\n== {pid} (on the {'darkened' if dark else 'clean'} videos) ==")
        rows = {}
        for seq in videos:
            seq = darkened(seq) if dark else seq
            bg, fg = reference_regions(seq, matter)
            h, w = seq.frames[0].shape[:2]
            dist = distance_bands(matter, seq, (w, h))
            raw_probs = np.stack([matter.predict(
                refine.condition_low_light(f, settings.low_light_boost) if settings.low_light_boost > 0 else f)
                for f in seq.frames])
            ref = motion_reference(raw_probs, (w, h))
            motion = motion_zone(ref[1:] != ref[:-1])
            raw, smooth, mask, full, plain = run_preset_stages(settings, matter, seq.frames)
            old = run_preset_stages(settings, matter, seq.frames, gate_on_frame=False)
            stacks = {"raw prob": raw, "raw hard@thr": (raw >= settings.threshold).astype(np.float32),
                      "old rule: smoothed": old[1], "old rule: mask": old[2], "old rule: full": old[3],
                      "smoothed prob": smooth, "mask alpha": mask, "full (shipped)": full,
                      "full, blur finish": plain, "reference (floor)": ref.astype(np.float32),
                      "baseline": run_baseline(matter, seq.frames)}
            for name, st in stacks.items():
                r = rows.setdefault(name, [])
                mo, no = _masked_share(st, bg | fg, motion)
                vals = [_step_means(st, bg | fg), _step_means(st, bg), _step_means(st, fg), mo, no]
                vals += [_step_means(st, (bg | fg) & (dist >= lo) & (dist < hi)) for lo, hi in DISTANCE_BANDS]
                vals += [motion_lag(st, ref, 0), motion_lag(st, ref, 2)]
                r.append(vals)
        bands = " ".join(f"d{lo}-{hi if hi < 10_000 else 'inf'}" for lo, hi in DISTANCE_BANDS)
        print(f"{'stage':20s} flicker  bg       interior motion   noise    {bands}  lag@0  lag@0-2")
        for name, vals in rows.items():
            v = np.nanmean(np.array(vals), axis=0)
            print(f"{name:20s} " + " ".join(f"{x:.5f}" for x in v[:9]) + f"  {v[9]:.3f}  {v[10]:.3f}")


# --- synthetic smear test: exact truth while a person moves fast ------------------------------------

SMEAR_STILL, SMEAR_MOVING = 15, 45  # frames standing still, then swaying
SMEAR_AMPLITUDE, SMEAR_PERIOD = 150, 40  # px at 640x360 and frames: up to ~24 px per frame


def smear_sequence(dark: bool, portrait_index: int = 1):
    """A portrait (its exact alpha) over a cafe photo, 640x360: still, then swaying left and right.
    Fresh noise every frame: sigma 2 grey levels, or the low-light scene's darkening when `dark`."""
    from obsmatte.evaluation import scenes
    person = scenes.load_portraits(limit=portrait_index + 1)[portrait_index]
    rgb, alpha = scenes._person_strip(person, 330)
    h, w = 360, 640
    background = scenes.cafe_background((h, w), 3)
    rng = np.random.default_rng(5)
    frames, truths = [], []
    for t in range(SMEAR_STILL + SMEAR_MOVING):
        shift = round(SMEAR_AMPLITUDE * np.sin(2 * np.pi * (t - SMEAR_STILL) / SMEAR_PERIOD)) if t >= SMEAR_STILL else 0
        x = w // 2 - rgb.shape[1] // 2 + shift
        x0, x1 = max(0, x), min(w, x + rgb.shape[1])
        fg, a = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.float32)
        fg[h - 330:, x0:x1] = rgb[:, x0 - x:x1 - x]
        a[h - 330:, x0:x1] = alpha[:, x0 - x:x1 - x]
        img = scenes.composite(fg, a, background)
        img = scenes.darken(img, 100 + t) if dark else \
            np.clip(np.rint(img + rng.normal(0, 2.0, img.shape)), 0, 255).astype(np.uint8)
        frames.append(img)
        truths.append(a)
    return frames, np.stack(truths)


def smear_scores(alphas: np.ndarray, truths: np.ndarray) -> tuple[float, float, float, float]:
    """(flicker while still, MAE while moving, trail, missed lead).

    trail: mean alpha where the truth is background now but was the person 1-2 frames before;
    missed lead: mean (1 - alpha) where the truth is the person now but was background a frame before."""
    n = SMEAR_STILL
    still_flicker = float(np.abs(np.diff(alphas[:n], axis=0)).mean())
    moving_mae = float(np.abs(alphas[n + 1:] - truths[n + 1:]).mean())
    behind = (truths[n + 3:] < 0.05) & ((truths[n + 2:-1] > 0.5) | (truths[n + 1:-2] > 0.5))
    lead = (truths[n + 1:] > 0.95) & (truths[n:-1] < 0.05)
    return still_flicker, moving_mae, float(alphas[n + 3:][behind].mean()), float((1 - alphas[n + 1:][lead]).mean())


def smear_report(preset_ids):
    matter = load_matter(MODEL)
    methods = {m.name: m.settings for m in preset_methods(preset_ids, MODEL)}
    print("\n== synthetic smear test (exact truth; still then swaying up to ~24 px/frame) ==")
    print(f"{'preset':12s} {'method':22s} still-flicker moving-MAE trail  missed-lead")
    for pid, settings in methods.items():
        frames, truths = smear_sequence(dark=SCENE_OF_PRESET[pid] == "low_light")
        runs = {"baseline": run_baseline(matter, frames),
                "old rule (no frame)": run_preset_stages(settings, matter, frames, gate_on_frame=False)[3],
                "frame-gated (shipped)": run_preset_stages(settings, matter, frames)[3]}
        for name, alphas in runs.items():
            v = smear_scores(alphas, truths)
            print(f"{pid:12s} {name:22s} {v[0]:.5f}       {v[1]:.4f}     {v[2]:.3f}  {v[3]:.3f}")


def timing_report(repeat: int = 1000):
    """Median ms of one TemporalSmoother.update at the landscape model's mask size (256x144), with and
    without the frame: for the model's own 256x144 copy of the frame (what MaskPipeline passes), the
    OBS worker's 320x180 input and the evaluation's 640x360 frames."""
    import time
    frames = load_videos(3)[1].frames  # real frames: a webcam-like picture, not random noise
    prob = np.clip(cv2.resize(frames[0][:, :, 0], (256, 144)).astype(np.float32) / 255, 0, 1)
    print("\n== TemporalSmoother.update, median ms over", repeat, "calls ==")
    for label, size in (("256x144 frame", (256, 144)), ("320x180 frame", (320, 180)), ("640x360 frame", (640, 360)), ("no frame", None)):
        pair = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames[:2]] if size else [None, None]
        smoother = refine.TemporalSmoother(0.9)
        smoother.update(prob, pair[0])
        samples = []
        for i in range(repeat):
            t0 = time.perf_counter()
            smoother.update(prob, pair[i % 2])
            samples.append((time.perf_counter() - t0) * 1e3)
        print(f"{label:14s} {np.median(samples):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--presets", default="studio,cafe,multi_person,low_light")
    ap.add_argument("--smear-only", action="store_true", help="only the synthetic smear test")
    ap.add_argument("--timing-only", action="store_true", help="only the smoother's cost per mask")
    args = ap.parse_args()
    ids = [p for p in args.presets.split(",") if p]
    if not args.timing_only:
        if not args.smear_only:
            report(ids, args.frames)
        smear_report(ids)
    timing_report()


if __name__ == "__main__":
    main()
