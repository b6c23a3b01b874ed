"""A second peer baseline: obs-backgroundremoval's default mask pipeline as its source code runs it.

The first baseline (baseline.py) is the plugin's default as the issue states it (threshold 0.5, temporal
smoothing 0.85, largest blob only) and stays the one the targets are judged against. This one follows the
plugin's code instead, read at royshil/obs-backgroundremoval 875ffda (2025-10-28); it is our own
emulation with OpenCV's Python bindings, written from reading that code, not a copy of it (the plugin is
GPL-3.0). Where each step lives there:

- Defaults: src/background-filter.cpp, background_filter_defaults(): enable_threshold on, threshold 0.5,
  contour_filter 0.05, smooth_contour 0.5, feather 0.0, mask_every_x_frames 1, temporal_smooth_factor
  0.85, enable_image_similarity on, image_similarity_threshold 35.0 (dB), blur_background 0.
- Per frame: background_filter_video_tick(), in this order:
  1. Image similarity. The frame is the filter's whole input as BGRA at the source's own size
     (src/obs-utils/obs-utils.cpp, getRGBAFromStageSurface(); alpha 255 for an opaque source). cv::PSNR of it against
     `lastImageBGRA`; above the threshold the tick returns at once: no inference, the previous finished
     mask stays, and no state changes (not even the mask-every-X counter). Otherwise this frame becomes
     `lastImageBGRA`, so the comparison is always against the last frame *processed*, not the last seen:
     a slow drift is caught once it adds up. The PSNR averages over the four channels, the constant
     alpha included (so it reads 10*log10(4/3) = 1.25 dB above an RGB-only PSNR).
  2. Mask every X frames: 1 by default, i.e. every frame (not emulated beyond that).
  3. processImageForBackground(): the model's person probability, as uint8 (src/ort-utils/ort-session-utils.cpp,
     runFilterModelInference(): convertTo(CV_8U, 255), i.e. rounded and saturated), and
     backgroundMask = output < (uint8)(threshold * 255) = 127: a *background* mask, 255 = background,
     at the model's output size.
  4. Temporal smoothing: cv::addWeighted(backgroundMask, f, lastBackgroundMask, 1 - f) with
     f = max(temporal_smooth_factor, threshold) = 0.85 (the NEW mask weighs 0.85), in uint8; the
     smoothed mask becomes `lastBackgroundMask` (before the contour filter).
  5. Contour filter: cv::findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE) on that smoothed mask, where any
     non-zero pixel counts as background; kept are the outer contours whose cv::contourArea (the polygon's
     area, holes included) is above contour_filter x the mask's pixel count (5%); the mask is cleared and
     the kept contours drawn filled with 255. So what is measured is *background* regions, and what
     survives as person is what those filled outlines leave out: people reaching the frame's edge (bays
     of the background) survive whatever their size; a person, or a speck, enclosed by background is a
     hole of it and is filled over (dropped) whatever their size; a background region under 5% (a gap
     under an arm) becomes person. Two consequences follow from step 4 feeding step 5: the background
     grows at once (a pixel turning to background reads 217) but the person only once the smoothed
     value has decayed to 0 (255 -> 38 -> 6 -> 1 -> 0: on the fourth processed frame they are there,
     three frames late).
  6. Smooth contour: cv::stackBlur with a k x k kernel, k = int(3 + 11 * smooth_contour) made odd (9),
     at the model's size.
  7. cv::resize to the frame's size (bilinear), then > 128 (binary again, because smooth_contour > 0).
  8. Feather: 0 by default, skipped. The result is the filter's `backgroundMask`.
- Render: data/effects/mask_alpha_filter.effect, PSAlphaMaskRGBAWithoutBlur: alpha = 1 - mask (times the
  input's alpha, 1 here). So the matte is binary.

What is not emulated: the plugin's model (we run ours: the comparison is of the pipelines on one model),
its own resize of the frame to the model's input, GPU upload and the Kawase background blur (off by
default). OpenCV is 5.x here and 4.8.1 in the plugin's build; the calls used behave alike.
"""
from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 0.5
TEMPORAL_SMOOTH_FACTOR = 0.85  # the weight of the NEW mask
CONTOUR_FILTER = 0.05  # fraction of the mask's pixels a background region's outline must enclose
SMOOTH_CONTOUR = 0.5
SIMILARITY_PSNR_DB = 35.0


def background_mask(prob: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """uint8 background mask (255 = background) of a person probability in [0, 1]: the probability as the
    plugin's uint8 (rounded, saturated), below int(threshold * 255) = 127 is background."""
    as_uint8 = np.clip(np.rint(prob.astype(np.float32) * np.float32(255.0)), 0, 255).astype(np.uint8)
    level = int(np.float32(threshold) * np.float32(255.0))  # the C++ (uint8_t) cast truncates: 127
    return np.where(as_uint8 < level, 255, 0).astype(np.uint8)


def temporal_smooth(mask: np.ndarray, last: np.ndarray | None, factor: float = TEMPORAL_SMOOTH_FACTOR,
                    threshold: float = THRESHOLD) -> np.ndarray:
    """The new uint8 mask weighs max(factor, threshold), the last smoothed one the rest (uint8 out)."""
    if not 0.0 < factor < 1.0 or last is None or last.shape != mask.shape:
        return mask
    f = max(factor, threshold)
    return cv2.addWeighted(mask, f, last, 1.0 - f, 0.0)


def contour_filter(mask: np.ndarray, fraction: float = CONTOUR_FILTER) -> np.ndarray:
    """Keep, filled, the outer outlines of background (non-zero) regions enclosing more than `fraction` of
    the mask's pixels; everything else becomes person (0)."""
    if not 0.0 < fraction < 1.0:
        return mask
    out = np.zeros_like(mask)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    limit = float(mask.size) * fraction
    kept = [c for c in contours if cv2.contourArea(c) > limit]
    if kept:
        cv2.drawContours(out, kept, -1, 255, -1)
    return out


def smooth_kernel(smooth: float = SMOOTH_CONTOUR) -> int:
    k = int(3 + 11 * smooth)
    return k + 1 if k % 2 == 0 else k


def smooth_contour(mask: np.ndarray, smooth: float = SMOOTH_CONTOUR) -> np.ndarray:
    """Stack blur of the binary mask (at the model's size), k = int(3 + 11 * smooth) made odd."""
    if smooth <= 0.0:
        return mask
    k = smooth_kernel(smooth)
    return cv2.stackBlur(mask, (k, k))


def to_frame(mask: np.ndarray, hw: tuple[int, int], smoothed: bool = True) -> np.ndarray:
    """Bilinear resize to the frame, then > 128 when the contour was smoothed (255 = background)."""
    h, w = hw
    big = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.where(big > 128, 255, 0).astype(np.uint8) if smoothed else big


def frame_psnr(a_bgra: np.ndarray, b_bgra: np.ndarray) -> float:
    return float(cv2.PSNR(a_bgra, b_bgra))


class PluginCodeBaseline:
    """Stateful like the plugin: call reset() between unrelated images or videos (the plugin itself never
    resets; the eval starts each image and video afresh, as for the other methods).

    `processed` and `skipped` count the frames since the last reset that ran the model or were skipped as
    similar."""

    def __init__(self, matter, psnr_db: float = SIMILARITY_PSNR_DB):
        self.matter = matter
        self.psnr_db = psnr_db
        self._last_image: np.ndarray | None = None  # BGRA of the last processed frame
        self._last_smoothed: np.ndarray | None = None  # lastBackgroundMask: smoothed, before the contours
        self._mask: np.ndarray | None = None  # the finished full-size background mask
        self.processed = self.skipped = 0

    def reset(self) -> None:
        self._last_image = self._last_smoothed = self._mask = None
        self.processed = self.skipped = 0
        self.matter.reset()

    def _similar(self, rgb: np.ndarray) -> bool:
        """The similarity test; a frame that fails it becomes the one the next frames are compared with."""
        bgra = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)  # what the plugin reads back: BGRA, alpha 255
        last = self._last_image
        if last is not None and last.shape == bgra.shape and frame_psnr(last, bgra) > self.psnr_db:
            return True
        self._last_image = bgra
        return False

    def background(self, rgb: np.ndarray) -> np.ndarray:
        """The full-size uint8 background mask for this frame (255 = background)."""
        if self._similar(rgb):
            self.skipped += 1
            return self._mask
        if self._mask is None:  # the plugin starts from all background (shown if the model fails)
            self._mask = np.full(rgb.shape[:2], 255, np.uint8)
        mask = background_mask(self.matter.predict(rgb))
        mask = temporal_smooth(mask, self._last_smoothed)
        self._last_smoothed = mask.copy()
        mask = smooth_contour(contour_filter(mask))
        self._mask = to_frame(mask, rgb.shape[:2])
        self.processed += 1
        return self._mask

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        """Full-size alpha for one frame: 1 - mask (binary)."""
        return 1.0 - self.background(rgb).astype(np.float32) / 255.0
