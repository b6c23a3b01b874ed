"""The peer plugin's default pipeline (obs-backgroundremoval, see ../shared/docs/ANCHORS.md), rebuilt
from its documented behaviour so our presets are compared against it on the same model and frames:

  prob -> hard threshold at 0.5 -> temporal EMA (previous mask weighs 0.85) -> keep only the largest
  blob -> bilinear upsample to the frame. No guided refinement, no feather (its default is 0).
"""
from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 0.5
EMA_PREVIOUS_WEIGHT = 0.85


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
            mask = EMA_PREVIOUS_WEIGHT * self._previous + (1.0 - EMA_PREVIOUS_WEIGHT) * mask
        self._previous = mask
        return largest_blob_only(mask)

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        """Full-size alpha for one frame."""
        mask = self.process(rgb)
        h, w = rgb.shape[:2]
        return np.clip(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
