"""Timing table of the refinement and compositing functions (figures to read, nothing asserted).

    .venv/bin/python tools/bench_refine.py [--repeat N] [--threads N] [--quality]

Model-size steps run on a 256x144 mask (MediaPipe landscape's output), full-size steps on a 1280x720
frame. Inputs are a real evaluation portrait when ../shared is present, synthetic otherwise.
--quality also prints the edge-band error of the guided feather against a plain blur on the 12 portraits
for a few eps values (how refine._FEATHER_EPS was chosen).
"""
from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from obsmatte import compose, fast_guided, paths, refine
from obsmatte.evaluation.scenes import blocky_edge_case
from obsmatte.settings import MatteSettings

MODEL_WH = (256, 144)
FRAME_WH = (1280, 720)


def _portraits() -> list[tuple[np.ndarray, np.ndarray]]:
    image_dir = paths.SHARED_DIR / "eval" / "portraits" / "image"
    out = []
    for f in sorted(image_dir.glob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        alpha = cv2.imread(str(f.parent.parent / "alpha" / (f.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        out.append((rgb, alpha.astype(np.float32) / 255))
    return out


def _inputs():
    portraits = _portraits()
    if portraits:
        rgb, alpha = portraits[1]
        source = "real portrait"
    else:
        h, w = 720, 1280
        yy, xx = np.mgrid[:h, :w]
        alpha = ((((yy - 500) / 400) ** 2 + ((xx - 640) / 260) ** 2) <= 1).astype(np.float32)
        rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        source = "synthetic (../shared missing)"
    frame = compose.fit_background(rgb, FRAME_WH, "fill", (0, 0, 0))
    alpha_full = cv2.resize(compose.fit_background((alpha * 255).astype(np.uint8), FRAME_WH, "fill", (0, 0, 0))
                            [:, :, 0], FRAME_WH).astype(np.float32) / 255
    prob = cv2.resize(alpha_full, MODEL_WH, interpolation=cv2.INTER_AREA)
    prob = np.clip(prob + np.random.default_rng(1).normal(0, 0.05, prob.shape), 0, 1).astype(np.float32)
    return source, frame, alpha_full, prob


def _time_ms(fn, repeat: int) -> float:
    fn()  # warm-up (first calls allocate)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def _quality() -> None:
    portraits = _portraits()
    if not portraits:
        print("\n--quality needs ../shared/eval/portraits; skipped")
        return
    print("\nedge-band mean |alpha - truth| of a 256-px blocky mask upsampled to 1280 px (12 portraits)")
    data = []
    for rgb, truth in portraits:
        frame, alpha, up, band = blocky_edge_case(rgb, truth)
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        data.append((grey, alpha, up, band))
    eps_values = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    print(f"{'feather px':>10} {'blur':>8} " + " ".join(f"{'eps ' + format(e, 'g'):>11}" for e in eps_values))
    for px in (2, 4, 8):
        blur = np.mean([np.abs(refine.feather(up, px, "blur") - a)[b].mean() for _, a, up, b in data])
        guided = [np.mean([np.abs(np.clip(refine.guided_filter(g, up, max(1, round(px)), e), 0, 1) - a)[b].mean()
                           for g, a, up, b in data]) for e in eps_values]
        print(f"{px:>10} {blur:8.4f} " + " ".join(f"{v:11.4f}" for v in guided))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's)")
    parser.add_argument("--quality", action="store_true")
    args = parser.parse_args()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)

    source, frame, alpha, prob = _inputs()
    mask = refine.soft_threshold(prob, 0.5, 0.3)
    specks = mask.copy()
    specks[5:8, 5:8] = 1.0
    specks[130:133, 240:243] = 1.0
    smoother = refine.TemporalSmoother(0.5)
    smoother.update(prob)
    small_rgb = cv2.resize(frame, MODEL_WH, interpolation=cv2.INTER_AREA)
    mid_rgb = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)
    dark_small, dark_mid, dark_full = ((x * 0.2).astype(np.uint8) for x in (small_rgb, mid_rgb, frame))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    background = cv2.resize(frame[::-1], (1920, 1080))
    rgba = compose.composite(frame, alpha, MatteSettings({"background": "transparent"}))
    s = MatteSettings()
    mask_u8 = cv2.convertScaleAbs(mask, alpha=255.0)
    small_guide = fast_guided.small_guide(small_rgb, mask.shape, linear=False)

    rows = [
        ("condition_low_light(1.0)", "256x144 rgb", lambda: refine.condition_low_light(dark_small, 1.0)),
        ("condition_low_light(1.0)", "640x360 rgb", lambda: refine.condition_low_light(dark_mid, 1.0)),
        ("condition_low_light(1.0)", "1280x720 rgb", lambda: refine.condition_low_light(dark_full, 1.0)),
        ("soft_threshold", "256x144", lambda: refine.soft_threshold(prob, 0.5, 0.3)),
        ("remove_small_islands(0.01), 2 specks", "256x144", lambda: refine.remove_small_islands(specks, 0.01)),
        ("remove_small_islands(0.01), none", "256x144", lambda: refine.remove_small_islands(mask, 0.01)),
        ("TemporalSmoother.update(0.5)", "256x144", lambda: smoother.update(prob)),
        ("erode_dilate(2)", "256x144", lambda: refine.erode_dilate(mask, 2)),
        ("upsample_mask", "256x144->1280x720", lambda: compose.upsample_mask(mask, FRAME_WH)),
        ("erode_dilate(2)", "1280x720", lambda: refine.erode_dilate(alpha, 2)),
        ("erode_dilate(-5)", "1280x720", lambda: refine.erode_dilate(alpha, -5)),
        ("guided_filter(r=2, grey)", "1280x720", lambda: refine.guided_filter(grey, alpha, 2, 3e-4)),
        ("guided_filter(r=8, grey)", "1280x720", lambda: refine.guided_filter(grey, alpha, 8, 3e-4)),
        ("feather(2, blur)", "1280x720", lambda: refine.feather(alpha, 2.0, "blur")),
        ("feather(2, guided)", "1280x720", lambda: refine.feather(alpha, 2.0, "guided", frame)),
        ("fast_guided.coefficients(r=2, colour)", "256x144",
         lambda: fast_guided.coefficients(small_guide, mask, 2)),
        ("fast_guided.noise_sigma", "256x144", lambda: fast_guided.noise_sigma(small_guide)),
        ("fast_guided.refine_packed(10 px guided)", "256x144 (OBS refine thread)",
         lambda: fast_guided.refine_packed(mask_u8, small_rgb, 0, 10.0, True, (1280, 720), linear=True)),
        ("finish_alpha(defaults)", "256x144->1280x720", lambda: compose.finish_alpha(mask, frame, s)),
        ("composite(transparent)", "1280x720",
         lambda: compose.composite(frame, alpha, s.replace(background="transparent"))),
        ("composite(color)", "1280x720", lambda: compose.composite(frame, alpha, s.replace(background="color"))),
        ("composite(blur, 12)", "1280x720", lambda: compose.composite(frame, alpha, s.replace(background="blur"))),
        ("composite(blur, 48)", "1280x720",
         lambda: compose.composite(frame, alpha, s.replace(background="blur", blur_strength=48.0))),
        ("composite(image, fill)", "1280x720 (bg 1920x1080)",
         lambda: compose.composite(frame, alpha, s.replace(background="image"), background)),
        ("fit_background(fit)", "1920x1080->1280x720",
         lambda: compose.fit_background(background, FRAME_WH, "fit", (0, 0, 0))),
        ("flatten", "1280x720 rgba", lambda: compose.flatten(rgba, (0, 255, 0))),
    ]
    print(f"inputs: {source}; OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads; "
          f"median of {args.repeat} runs")
    print(f"{'function':<38} {'size':<24} {'ms':>8}")
    for name, size, fn in rows:
        print(f"{name:<38} {size:<24} {_time_ms(fn, args.repeat):8.2f}")
    if args.quality:
        _quality()


if __name__ == "__main__":
    main()
