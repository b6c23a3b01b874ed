"""Refinements proposed for refine.py, measured here before anyone changes the engine.

- guided_filter_color: He et al.'s guided filter with a COLOUR guide (a 3x3 solve per pixel), run on a
  half-size copy ("fast guided filter": the linear coefficients are smooth, so they are computed small
  and upsampled), which follows hair/shoulder edges that a grey guide misses when foreground and
  background have the same brightness but different colours.
- TemporalEma: per-pixel EMA of the confidence with a motion gate that opens only on large changes
  (MOTION_DIFF 0.5 in refine.py lets most flicker through: the model's own flicker is often a jump of
  more than 0.5 in probability).
Nothing here ships; eval reports it as the "proposed" row so the gain is visible next to the presets.
"""
from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter_color(guide_rgb: np.ndarray, src: np.ndarray, radius: int, eps: float,
                        scale: float = 0.5) -> np.ndarray:
    """q = A . I + b with A (3-vector) and b solved per window over the colour guide I in [0, 1]."""
    h, w = src.shape
    small_w, small_h = max(8, int(w * scale)), max(8, int(h * scale))
    guide = guide_rgb.astype(np.float32) / 255.0
    I = cv2.resize(guide, (small_w, small_h), interpolation=cv2.INTER_AREA)
    p = cv2.resize(src.astype(np.float32), (small_w, small_h), interpolation=cv2.INTER_AREA)
    r = max(1, int(round(radius * scale)))
    mean_i = _box(I, r)  # (h, w, 3)
    mean_p = _box(p, r)
    cov_ip = _box(I * p[..., None], r) - mean_i * mean_p[..., None]
    # Covariance of the guide per window: a symmetric 3x3 matrix per pixel, plus eps on the diagonal.
    var = np.empty((small_h, small_w, 3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            v = _box(I[..., a] * I[..., b], r) - mean_i[..., a] * mean_i[..., b]
            var[..., a, b] = var[..., b, a] = v
    var += np.eye(3, dtype=np.float32) * np.float32(eps)
    coef = np.linalg.solve(var, cov_ip[..., None])[..., 0]  # (h, w, 3)
    bias = mean_p - np.einsum("hwc,hwc->hw", coef, mean_i)
    coef = cv2.resize(_box(coef, r), (w, h), interpolation=cv2.INTER_LINEAR)
    bias = cv2.resize(_box(bias, r), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.einsum("hwc,hwc->hw", coef, guide) + bias, 0.0, 1.0).astype(np.float32)


class TemporalEma:
    """out = w*prev + (1-w)*new with w = strength * clip(1 - |new-prev| / motion_diff, 0, 1)."""

    def __init__(self, strength: float, motion_diff: float = 0.9):
        self.strength = strength
        self.motion_diff = motion_diff
        self.previous: np.ndarray | None = None

    def reset(self) -> None:
        self.previous = None

    def update(self, prob: np.ndarray) -> np.ndarray:
        if self.previous is None or self.previous.shape != prob.shape or self.strength <= 0:
            self.previous = prob.astype(np.float32).copy()
            return self.previous
        d = np.abs(prob - self.previous)
        keep = self.strength * np.clip(1.0 - d / self.motion_diff, 0.0, 1.0)
        self.previous = (prob + keep * (self.previous - prob)).astype(np.float32)
        return self.previous


# Measured on the studio/cafe tuning split (see the report): radius 8 px at 640 px, eps 1e-4,
# re-sharpening ramp 0.3 wide; motion gate 0.9 instead of 0.5.
GUIDE_RADIUS = 8
GUIDE_EPS = 1e-4
RESHARPEN = 0.3
MOTION_DIFF = 0.9
PROB_EMA = 0.6
FINAL_EMA = 0.85
FINAL_MOTION_DIFF = 5.0  # > 1: a plain EMA, the same lag as the peer plugin's 0.85


class ProposedPipeline:
    """The shipped steps with the two proposals swapped in (same interface as BaselinePipeline)."""

    def __init__(self, matter, settings, motion_diff: float = MOTION_DIFF, radius: int = GUIDE_RADIUS,
                 eps: float = GUIDE_EPS, resharpen: float = RESHARPEN, final_ema: float = FINAL_EMA,
                 final_motion: float = FINAL_MOTION_DIFF):
        from .. import refine
        self.refine = refine
        self.matter = matter
        self.settings = settings
        # Its own temporal constants, not the preset's (tuned for the shipped rule): a light, motion-gated
        # EMA on the confidence and the plain EMA of the peer (same lag) on the finished alpha.
        self.ema = TemporalEma(PROB_EMA, motion_diff)
        self.radius, self.eps, self.resharpen = radius, eps, resharpen
        # A second, light EMA on the finished full-size alpha: it also calms what the guided filter
        # picks up from sensor noise in the frame (the guide changes every frame even when the mask does not).
        self.final = TemporalEma(final_ema, final_motion)

    def reset(self) -> None:
        self.ema.reset()
        self.final.reset()
        self.matter.reset()

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        s, refine = self.settings, self.refine
        model_input = refine.condition_low_light(rgb, s.low_light_boost) if s.low_light_boost > 0 else rgb
        prob = self.ema.update(self.matter.predict(model_input))
        alpha = refine.soft_threshold(prob, s.threshold, s.softness)
        alpha = refine.remove_small_islands(alpha, s.min_person_area)
        h, w = rgb.shape[:2]
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = refine.erode_dilate(alpha, s.erode)
        if self.radius > 0:
            alpha = guided_filter_color(rgb, alpha, self.radius, self.eps)
            # The filter moves the edge onto the frame's own edge but leaves it soft; a ramp around 0.5
            # makes it crisp again (most true edges are sharp; hair keeps the ramp's width).
            alpha = refine.soft_threshold(alpha, 0.5, self.resharpen)
        return np.clip(self.final.update(alpha), 0.0, 1.0)
