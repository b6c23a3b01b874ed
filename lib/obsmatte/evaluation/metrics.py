"""Scores of a predicted alpha against the truth: every function takes float alphas in [0, 1].

All are plain numpy/OpenCV so the tests can check them on tiny arrays with known answers.
"""
from __future__ import annotations

import cv2
import numpy as np

EDGE_BAND_FRACTION = 0.015  # half-width of the edge band, as a fraction of the image diagonal


def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute alpha error over the whole frame."""
    return float(np.mean(np.abs(pred.astype(np.float32) - truth.astype(np.float32))))


def iou(pred: np.ndarray, truth: np.ndarray, level: float = 0.5) -> float:
    """Intersection over union of the two masks cut at `level` (1.0 when both are empty)."""
    p, t = pred >= level, truth >= level
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


def edge_band(truth: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Boolean band around the truth's 0.5 contour: where its dilation and erosion by `radius` differ.

    The default radius is 1.5% of the image diagonal (about 11 px at 640x360), wide enough to hold hair
    and the soft edge, narrow enough that the flat interior/background do not dilute the figure.
    """
    if radius is None:
        h, w = truth.shape[:2]
        radius = max(1, int(round(EDGE_BAND_FRACTION * float(np.hypot(h, w)))))
    m = (truth >= 0.5).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    # Border value 0 for dilation/1 for erosion would invent edges at the frame border; replicate does not.
    dil = cv2.dilate(m, k, borderType=cv2.BORDER_REPLICATE)
    ero = cv2.erode(m, k, borderType=cv2.BORDER_REPLICATE)
    return dil != ero


def edge_error(pred: np.ndarray, truth: np.ndarray, band: np.ndarray | None = None) -> float:
    """Mean absolute alpha error inside the edge band (0 when the truth has no edge)."""
    band = edge_band(truth) if band is None else band
    if not band.any():
        return 0.0
    return float(np.mean(np.abs(pred[band].astype(np.float32) - truth[band].astype(np.float32))))


def person_recall(pred: np.ndarray, person_alpha: np.ndarray, level: float = 0.5) -> float:
    """Fraction of one person's true area (alpha > level) that the prediction keeps (>= level)."""
    area = person_alpha > level
    n = int(area.sum())
    if n == 0:
        return 1.0
    return float(np.logical_and(area, pred >= level).sum() / n)


def temporal_regions(reference_alphas: np.ndarray, picture_still: np.ndarray | None = None,
                     low: float = 0.05, high: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(background, interior) masks of a (T, H, W) stack: time-median below `low` / above `high`, and,
    when given, only where the picture itself never changed (`picture_still`, see still_picture).

    Flicker is the alpha changing where nothing in the picture did. A pixel an arm passes over is not
    such a place: its alpha must change, and a matte that lags behind the arm would be rewarded for
    changing it less. (Without the picture condition a matte that followed the model's own motion
    exactly, with no noise at all, scored about the same as the lagging peer baseline.) The median, not
    the max, picks the regions so that pixels where the model itself blinks now and then stay in them:
    those blinks are exactly the flicker to measure."""
    med = np.median(reference_alphas, axis=0)
    bg, fg = med < low, med > high
    if picture_still is not None:
        bg, fg = bg & picture_still, fg & picture_still
    return bg, fg


def still_picture(grey_frames: np.ndarray, level: float = 10.0, box: int = 5, margin: int = 15) -> np.ndarray:
    """(H, W) True where a (T, H, W) grey video never changes by more than `level` grey levels from its
    time-median (after a `box` x `box` blur, which averages sensor and codec noise away), `margin` pixels
    clear of any change (a refined edge reaches that far from the moving contour)."""
    blurred = np.stack([cv2.blur(g.astype(np.float32), (box, box)) for g in grey_frames])
    changed = (np.abs(blurred - np.median(blurred, axis=0)).max(axis=0) > level).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(changed, k) == 0


def flicker(alphas: np.ndarray, region: np.ndarray) -> float:
    """Mean |alpha(t) - alpha(t-1)| over `region` (H, W) across a (T, H, W) stack; 0 when T < 2 or empty."""
    if alphas.shape[0] < 2 or not region.any():
        return 0.0
    diffs = np.abs(np.diff(alphas.astype(np.float32), axis=0))  # (T-1, H, W)
    return float(diffs[:, region].mean())


class FlickerMeter:
    """Streaming version of `flicker` so long videos need not be held in memory."""

    def __init__(self, region: np.ndarray):
        self.region = region
        self.previous: np.ndarray | None = None
        self.total = 0.0
        self.steps = 0

    def update(self, alpha: np.ndarray) -> None:
        current = alpha[self.region].astype(np.float32)
        if self.previous is not None and current.size:
            self.total += float(np.abs(current - self.previous).mean())
            self.steps += 1
        self.previous = current

    @property
    def value(self) -> float:
        return self.total / self.steps if self.steps else 0.0
