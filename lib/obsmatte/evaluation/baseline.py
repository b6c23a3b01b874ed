"""The peer plugin's default pipeline (obs-backgroundremoval, see ../shared/docs/ANCHORS.md), rebuilt
from its documented behaviour so our presets are compared against it on the same model and frames:

  prob -> hard threshold at 0.5 -> temporal EMA (the new mask weighs 0.85, the previous 0.15) -> keep
  only the largest blob -> bilinear upsample to the frame. No guided refinement, no feather (its default is 0).

The EMA as its code does it: cv::addWeighted(backgroundMask, temporalSmoothFactor, lastBackgroundMask,
1 - temporalSmoothFactor), default factor 0.85 (at least the threshold), and the smoothed mask is the next
frame's "last". Until 2026-12-06 this baseline weighed the previous mask 0.85: a steadier baseline than the
plugin (its video flicker about half), so flicker ratios quoted before then flatter the baseline.
"""
from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 0.5
EMA_NEW_WEIGHT = 0.85  # the plugin's temporalSmoothFactor: the weight of the NEW mask


def largest_blob_only(mask: np.ndarray, level: float = 0.5) -> np.ndarray:
    """Zero everything except the largest 8-connected component of mask >= level."""
    solid = (mask >= level).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    if count <= 2:  # background plus at most one blob: nothing to drop
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == biggest, mask, 0.0).astype(np.float32)


class BaselinePipeline:
    """Stateful like the plugin: call reset() between unrelated images or videos."""

    def __init__(self, matter):
        self.matter = matter
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        self._previous = None
        self.matter.reset()

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """Mask at the model's resolution."""
        prob = self.matter.predict(rgb)
        mask = (prob >= THRESHOLD).astype(np.float32)
        if self._previous is not None and self._previous.shape == mask.shape:
            mask = EMA_NEW_WEIGHT * mask + (1.0 - EMA_NEW_WEIGHT) * self._previous
        self._previous = mask
        return largest_blob_only(mask)

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        """Full-size alpha for one frame."""
        mask = self.process(rgb)
        h, w = rgb.shape[:2]
        return np.clip(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
