"""What costs the model the outline in the dark, and what the low-light denoise does about it (figures to
read, nothing asserted): the measurements behind refine.InputDenoiser and the Low light preset's values.

    PYTHONPATH=lib .venv/bin/python tools/low_light_study.py [--video-frames 60] [--single-frame]

On the eval's low-light scene, with the Low light preset (denoise off unless said; subject zoom off), each dark composite
scored as one frame (IoU against its exact truth, the mean over the 12 portraits):
  1. with the scene's sensor noise, and darkened the same way without noise: grain or darkness?
  2. the model's input filtered in space first (Gaussian, median, bilateral, non-local means at 320 px);
  3. the model's answers averaged over 16 frames of the same dim scene with fresh noise each;
  4. the input frames averaged over 4 such frames (what a still person gives a webcam over time).
Then on the real videos darkened with fresh noise per frame: the mean difference between the preset's
matte and the same preset's matte on the clean video, where the picture moves, with and without the
denoiser (does the average smear what moves?).

--single-frame: what is left on one dark photo (nothing to average), with the shipped preset (subject zoom
on): IoU in the dark and IoU lost against the shipped preset in normal light, the mean and the two portraits
that carry the loss, for each lever tried on the model's input or views (mask-size confidences, cut at the
preset's threshold without the full-size edge refinement, so a little below the eval's figures).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from obsmatte import paths, refine  # noqa: E402
from obsmatte.evaluation import metrics, scenes  # noqa: E402
from obsmatte.evaluation.methods import Method, Runner, load_matter  # noqa: E402
from obsmatte.evaluation.videos import darkened, load_videos  # noqa: E402
from obsmatte.pipeline import MaskPipeline, matte_image  # noqa: E402
from obsmatte.presets import load_preset_file  # noqa: E402


def _small(f):
    def run(rgb):
        h, w = rgb.shape[:2]
        k = 320 / max(h, w)
        return f(cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA))
    return run


SPATIAL = {"gaussian sigma 1": lambda x: cv2.GaussianBlur(x, (0, 0), 1.0),
           "gaussian sigma 2": lambda x: cv2.GaussianBlur(x, (0, 0), 2.0),
           "median 5": lambda x: cv2.medianBlur(x, 5),
           "bilateral 7/40/5": lambda x: cv2.bilateralFilter(x, 7, 40, 5),
           "non-local means h 10 at 320 px": _small(lambda x: cv2.fastNlMeansDenoisingColored(x, None, 10, 10, 5, 11))}


def mean_iou(settings, images, samples, condition=None) -> float:
    pipeline = MaskPipeline(settings)
    if condition is not None:
        pipeline._condition = condition  # the study's own input step instead of the preset's
    ious = []
    for img, s in zip(images, samples):
        pipeline.reset()
        ious.append(metrics.iou(matte_image(img, settings, pipeline), s.alpha))
    return float(np.mean(ious))


HARD = ("p_514ca06a", "p_818e689d")  # the two portraits that carry the single-frame loss


def _chroma_blur(sigma: float):
    def run(rgb):
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
        for c in (1, 2):
            ycc[..., c] = cv2.GaussianBlur(ycc[..., c], (0, 0), sigma)
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    return run


def single_frame_levers(preset, samples) -> None:
    """Each lever: (settings, extra input step or None, the inputs the models see as a list of functions
    of the conditioned frame, averaged). Confidences at the mask's size, cut at the preset's threshold."""
    levers = [("shipped", preset, None, [None])]
    for t in (0.5, 0.6):
        levers.append((f"threshold {t}", preset.replace(threshold=t), None, [None]))
    for m in (0.15, 0.5):
        levers.append((f"zoom margin {m}", preset.replace(zoom_margin=m), None, [None]))
    for size in (224, 480):
        levers.append((f"inference size {size}", preset.replace(inference_size=size), None, [None]))
    for sigma in (2.0, 4.0):
        levers.append((f"chroma blur sigma {sigma:g}", preset, _chroma_blur(sigma), [None]))
    levers.append(("exposures x1 and x2 averaged", preset, None, [None, refine._gain_lut(2.0)]))
    levers.append(("exposures x0.7, x1, x1.4 averaged", preset, None,
                   [refine._gain_lut(0.7), None, refine._gain_lut(1.4)]))
    names = [s.name for s in samples]

    def ious(settings, step, luts, images):
        pipeline = MaskPipeline(settings)
        out = []
        for img, s in zip(images, samples):
            pipeline.reset()
            seen = pipeline._condition(img)
            seen = step(seen) if step is not None else seen
            prob = np.mean([pipeline.matter.predict(seen if lut is None else cv2.LUT(seen, lut)) for lut in luts],
                           axis=0)
            a = refine.soft_threshold(prob, settings.threshold, settings.softness)
            out.append(metrics.iou(cv2.resize(a, s.alpha.shape[::-1], interpolation=cv2.INTER_LINEAR), s.alpha))
        return np.array(out)

    normal = ious(preset, None, [None], [s.normal_light for s in samples])
    print(f"One dark frame, shipped preset (mask size): IoU in normal light {normal.mean():.4f}; per lever IoU in "
          f"the dark, lost against that, and the dark IoU of {' / '.join(HARD)}")
    for name, settings, step, luts in levers:
        dark = ious(settings, step, luts, [s.image for s in samples])
        hard = " / ".join(f"{dark[names.index(h)]:.3f}" for h in HARD)
        print(f"  {name:<36} {dark.mean():.4f}  lost {normal.mean() - dark.mean():.4f}  {hard}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video-frames", type=int, default=60)
    ap.add_argument("--single-frame", action="store_true", help="only the single dark frame's levers")
    args = ap.parse_args()
    if args.single_frame:
        single_frame_levers(load_preset_file(paths.PRESETS_DIR / "low_light.json").apply(),
                            scenes.build_low_light(scenes.load_portraits()))
        return 0
    # the preset as the denoise was measured on it: without the subject zoom it took later (its own
    # figures: tools/scene_draws.py --scene low_light), so what is printed here stays what was quoted
    preset = load_preset_file(paths.PRESETS_DIR / "low_light.json").apply().replace(subject_zoom=False)
    off = preset.replace(low_light_denoise=0.0)
    samples = scenes.build_low_light(scenes.load_portraits())
    noisy = [s.image for s in samples]
    clean_dark = [scenes.darken(s.normal_light, s.darkening[0], s.darkening[1], full_well=1e7, read_noise=0.0)
                  for s in samples]
    print("Low light preset (denoise off), one frame per dark composite: mean IoU")
    print(f"  with the sensor noise          {mean_iou(off, noisy, samples):.4f}")
    print(f"  darkened without noise         {mean_iou(off, clean_dark, samples):.4f}")
    for name, f in SPATIAL.items():
        def condition(rgb, f=f):
            return f(refine.condition_low_light(rgb, off.low_light_boost))
        print(f"  input filtered: {name:<30} {mean_iou(off, noisy, samples, condition):.4f}")

    frames = [s.live_frames(16) for s in samples]
    pipeline = MaskPipeline(off.replace(temporal_smoothing=0.0))
    ious, single = [], []

    def at_mask_size(prob, s):  # cut and scored without the full-size finish the lines above have
        a = refine.soft_threshold(prob, off.threshold, off.softness)
        return metrics.iou(cv2.resize(a, s.alpha.shape[::-1], interpolation=cv2.INTER_LINEAR), s.alpha)
    for s, fs in zip(samples, frames):
        probs = [pipeline.matter.predict(pipeline._condition(f)) for f in fs]
        ious.append(at_mask_size(np.mean(probs, axis=0), s))
        single.append(at_mask_size(probs[0], s))
    print(f"  one noisy frame, at the mask's size (to compare with the next line)  {np.mean(single):.4f}")
    print(f"  model's answers averaged over 16 noisy frames (mask size)  {np.mean(ious):.4f}")
    averaged = [np.clip(np.rint(np.mean([f.astype(np.float32) for f in fs[:4]], axis=0)), 0, 255).astype(np.uint8)
                for fs in frames]
    print(f"  input frames averaged over 4 noisy frames               {mean_iou(off, averaged, samples):.4f}")

    matter = load_matter(preset.model)
    reference = Runner(Method("clean video", preset.replace(temporal_smoothing=0.0)), matter)
    print("Darkened real videos, where the picture moves: mean |matte - the same preset's matte on the clean video|")
    for name, settings in (("denoise off, smoothing 0.9", off.replace(temporal_smoothing=0.9)), ("shipped", preset)):
        runner = Runner(Method(name, settings), matter)
        moving_err = []
        for seq in load_videos(args.video_frames):
            dark = darkened(seq)
            runner.start()
            reference.start()
            previous = None
            for f, d in zip(seq.frames, dark.frames):
                truth, a = reference.frame(f), runner.frame(d)
                grey = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32)
                if previous is not None:
                    moving = cv2.blur(np.abs(grey - previous), (9, 9)) > 8
                    if moving.any():
                        moving_err.append(float(np.abs(a - truth)[moving].mean()))
                previous = grey
        print(f"  {name:<28} {np.mean(moving_err):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
