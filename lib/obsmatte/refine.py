"""Mask refinement at the model's resolution, plus the edge steps the full-resolution finish reuses.

Every mask here is float32 HxW in [0, 1]. The maths is kept deliberately plain and is written out in
each docstring so the OBS effect shader can mirror it step for step; these CPU functions are the
reference the command line and the quality measurements use.

Order in the pipeline (see pipeline.MaskPipeline): condition_low_light -> InputDenoiser (model input only) -> model ->
TemporalSmoother -> soft_threshold -> remove_small_islands; then, at full size, erode_dilate -> feather.
"""
from __future__ import annotations

import cv2
import numpy as np

from .errors import MattingError

# --- low-light conditioning ------------------------------------------------------------------------

# The exposure the low-light gain aims for: a frame's mean linear-light luma is raised to that of a
# uniform frame at this encoded luma (0..1). Measured with `obs-matting eval` (low-light scene, colour
# guided finish): 0.2 and 0.25 beat 0.15, 0.3 and 0.4 on MAE and on the IoU lost to the dark; a brighter
# target pushes the (noisy) shadows into ranges the model reads as background or person at random.
_TARGET_MEAN_LUMA = 0.2
# Cap on the linear-light gain (16x = x3.5 in 8-bit encoded values near black): a black or lens-capped
# frame must not turn its sensor noise into texture.
_MAX_GAIN = 16.0
_GAMMA = 2.2  # encoded <-> linear light: a plain power curve is close enough for an exposure correction
_TO_LINEAR = (np.arange(256, dtype=np.float64) / 255.0) ** _GAMMA


def _check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.size == 0:
        shape = getattr(mask, "shape", None)
        raise MattingError(f"{name} must be a non-empty 2-D array (H x W), got shape {shape}")
    return mask if mask.dtype == np.float32 else mask.astype(np.float32)


def _check_rgb(rgb: np.ndarray, name: str = "frame") -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 \
            or rgb.size == 0:
        raise MattingError(f"{name} must be an RGB uint8 array (H x W x 3), got "
                           f"{getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')}")


def _gain_lut(gain: float) -> np.ndarray:
    """uint8 LUT of y = min(1, gain * x^GAMMA)^(1/GAMMA): an exposure gain in linear light."""
    y = np.minimum(gain * _TO_LINEAR, 1.0) ** (1.0 / _GAMMA)
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


def condition_low_light(rgb: np.ndarray, strength: float) -> np.ndarray:
    """Raise the exposure of a dark frame for the MODEL INPUT only (never the video that is shown).

    An exposure correction, like a camera's: every channel is multiplied by one gain in linear light,
    so colours and contrast ratios stay as they were (a contrast stretch such as CLAHE, or a gamma lift,
    also stretches the sensor noise in the shadows, and cost the model accuracy in `obs-matting eval`).
      m     = mean over the frame of (luma / 255)^GAMMA           (linear-light mean, from a histogram)
      gain  = min(TARGET^GAMMA / m, MAX_GAIN) ^ strength         (no lift when m >= TARGET^GAMMA)
      out   = 255 * min(1, gain * (x / 255)^GAMMA)^(1/GAMMA)     per channel, one 8-bit LUT
    strength 0, or a frame already at or above the target, returns the input object unchanged.
    """
    if strength <= 0:
        return rgb
    _check_rgb(rgb)
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    histogram = cv2.calcHist([luma], [0], None, [256], [0, 256]).ravel()
    mean_linear = max(float(histogram @ _TO_LINEAR) / luma.size, 1e-6)
    target = _TARGET_MEAN_LUMA ** _GAMMA
    if mean_linear >= target:
        return rgb
    gain = min(target / mean_linear, _MAX_GAIN) ** min(float(strength), 1.0)
    return cv2.LUT(rgb, _gain_lut(gain))


class InputDenoiser:
    """Temporal noise reduction of the MODEL INPUT (never the video that is shown), for a dim room.

    Sensor grain costs the model far more than darkness does: on the low-light scene the Low light preset
    keeps IoU 0.966 on the darkened frames without noise and 0.935 with it, and neither a spatial filter
    (Gaussian, median, bilateral, non-local means of the frame) gets that back and averaging the model's
    answers over frames gains little (its mistakes in grain are mostly biased, not random), while the
    average of a few frames of the same scene does (tools/low_light_study.py). So, like a camera's
    temporal noise reduction, per pixel:
      moved = frame_change_gate(grey(frame), grey(previous average))  0 still .. 1 moving (noise-aware)
      keep  = strength * (1 - moved)
      avg   = frame + keep * (avg - frame)                              float32, rounded for the model
    Where the picture moves the model sees the new frame at once; where it is still, grain averages out
    (strength 0.75 keeps the noise variance at (1 - s) / (1 + s) = 1/7 of a frame's). The gate works at
    GATE_SIDE on the long side. A larger frame is first shrunk (area average) to `max_side` on its long
    side, the size the model's input is made from in OBS (settings.inference_size): the models see less
    anyway, and the average then costs ~0.7 ms at 320x180 instead of ~28 ms at 1280x720. strength 0
    passes the input object through; the state resets itself when the frame size changes.
    """

    GATE_SIDE = 160

    def __init__(self, strength: float, max_side: int = 320):
        self.max_side = max(16, int(max_side))
        self.strength = 0.0
        self._average: np.ndarray | None = None
        self._average_grey: np.ndarray | None = None
        self.set_strength(strength)

    def set_strength(self, strength: float) -> None:
        self.strength = min(max(float(strength), 0.0), 0.95)

    def reset(self) -> None:
        self._average = None
        self._average_grey = None

    def _gate_shape(self, h: int, w: int) -> tuple[int, int]:
        # At least 2 x 2: OpenCV takes a one-pixel-wide array of 1 or 4 pixels for a scalar, and the gate's
        # arithmetic then fails (4 x 1) or turns float64 (1 x 1), which the blend below refuses. A frame
        # that small gets its gate upsampled and shrunk back; a real frame's gate is larger anyway.
        s = min(1.0, self.GATE_SIDE / max(h, w))
        return max(2, round(h * s)), max(2, round(w * s))

    def update(self, rgb: np.ndarray) -> np.ndarray:
        if self.strength <= 0:
            self.reset()
            return rgb
        _check_rgb(rgb)
        h, w = rgb.shape[:2]
        if max(h, w) > self.max_side:
            k = self.max_side / max(h, w)
            h, w = max(1, round(h * k)), max(1, round(w * k))
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        grey = grey_at(rgb, self._gate_shape(h, w))
        if self._average is None or self._average.shape != rgb.shape:
            self._average = rgb.astype(np.float32)
            self._average_grey = grey
            return rgb
        moved = frame_change_gate(grey, self._average_grey, (h, w))
        keep = cv2.addWeighted(moved, -self.strength, moved, 0.0, self.strength)  # s * (1 - moved)
        frame = rgb.astype(np.float32)
        # avg = frame + keep * (avg - frame), keep broadcast over the three channels
        average = cv2.add(frame, cv2.multiply(cv2.merge([keep, keep, keep]), cv2.subtract(self._average, frame)))
        self._average = average
        out = cv2.convertScaleAbs(average)  # rounds and saturates to uint8
        self._average_grey = grey_at(out, grey.shape)
        return out


# --- confidence -> alpha ---------------------------------------------------------------------------

def soft_threshold(prob: np.ndarray, threshold: float, softness: float) -> np.ndarray:
    """Turn the model's confidence into alpha with a smoothstep ramp.

      lo = max(threshold - softness / 2, 0),  hi = min(threshold + softness / 2, 1)
      t  = clip((prob - lo) / (hi - lo), 0, 1)
      alpha = t * t * (3 - 2 * t)
    softness 0 is a hard cut: alpha = 1 where prob >= threshold, else 0. Monotonic in prob.
    The ramp is cut to the confidence's own range 0..1, so a sure background (0) is always fully
    transparent and a sure person (1) fully opaque: a low threshold with a wide ramp (0.1 and 0.3) would
    otherwise leave the whole room showing at 7%, a high one (0.9 and 0.4) the person see-through.
    """
    prob = _check_mask(prob, "prob")
    lo, hi = max(threshold - softness / 2.0, 0.0), min(threshold + softness / 2.0, 1.0)
    if softness <= 0 or hi <= lo:
        return (prob >= threshold).astype(np.float32)
    t = (prob - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    np.clip(t, 0.0, 1.0, out=t)
    return t * t * (np.float32(3.0) - np.float32(2.0) * t)


# --- islands ---------------------------------------------------------------------------------------

# Alpha that would still show in 8 bits; fainter tails of a removed speck are left (invisible).
_VISIBLE = 0.5 / 255

def _lut(flags: np.ndarray) -> np.ndarray:
    """A 256-entry uint8 table (1 where flags is true) for cv2.LUT over an 8-bit label image."""
    table = np.zeros(256, np.uint8)
    table[:len(flags)] = flags
    return table


def remove_small_islands(alpha: np.ndarray, min_area_fraction: float, level: float = 0.5) -> np.ndarray:
    """Zero every blob smaller than min_area_fraction of the frame; keep every blob at or above it.

    Blobs are the 8-connected components of alpha >= level. A removed blob's soft fringe goes too:
    - the visible region around it (8-connected alpha > 0.5/255) is zeroed whole when it holds no kept
      blob (a speck with its halo);
    - when that region also holds a kept blob (a speck in a person's soft edge), only the pixels within
      r px of the removed blob and not within r px of a kept blob are zeroed, r = max(3, 1.5% of the
      short side), so a speck never eats into a person's edge.
    Never "largest blob only": two people of any size above the limit both stay. 0 = off.
    """
    alpha = _check_mask(alpha, "alpha")
    if min_area_fraction <= 0:
        return alpha
    h, w = alpha.shape
    solid = (alpha >= level).astype(np.uint8)
    # Plain labelling + bincount: a quarter of the cost of connectedComponentsWithStats, which also
    # computes bounding boxes and centroids we do not need.
    count, labels = cv2.connectedComponents(solid, connectivity=8)
    if count <= 1:
        return alpha
    areas = np.bincount(labels.ravel(), minlength=count)
    small = areas < min_area_fraction * h * w
    small[0] = False  # label 0 is the background
    if not small[1:].any():
        return alpha
    visible = (alpha > _VISIBLE).astype(np.uint8)
    region_count, regions = cv2.connectedComponents(visible, connectivity=8)
    few_labels = count <= 256 and region_count <= 256
    if few_labels:
        # The usual case (a handful of blobs): 8-bit label images let cv2.LUT and cv2.calcHist do the
        # per-pixel table look-ups, ~10x cheaper than numpy fancy indexing on the whole mask.
        labels8, regions8 = labels.astype(np.uint8), regions.astype(np.uint8)
        removed8 = cv2.LUT(labels8, _lut(small))
        kept8 = cv2.bitwise_and(solid, cv2.bitwise_not(removed8) & 1)
        holds_removed = cv2.calcHist([regions8], [0], removed8, [256], [0, 256]).ravel()[:region_count] > 0
        holds_kept = cv2.calcHist([regions8], [0], kept8, [256], [0, 256]).ravel()[:region_count] > 0
        holds_removed[0] = False
        zero = (cv2.LUT(regions8, _lut(holds_removed & ~holds_kept)) | removed8).astype(bool)
        removed, kept = removed8.astype(bool), kept8.astype(bool)
    else:
        removed = small[labels]
        kept = solid.astype(bool) & ~removed
        holds_removed = np.zeros(region_count, bool)
        holds_removed[regions[removed]] = True
        holds_kept = np.zeros(region_count, bool)
        holds_kept[regions[kept]] = True
        holds_removed[0] = False
        zero = (holds_removed & ~holds_kept)[regions] | removed
    shared = holds_removed & holds_kept
    if shared.any():
        r = max(3, round(0.015 * min(h, w)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        near_removed = cv2.dilate(removed.astype(np.uint8), kernel).astype(bool)
        near_kept = cv2.dilate(kept.astype(np.uint8), kernel).astype(bool)
        in_shared = cv2.LUT(regions8, _lut(shared)).astype(bool) if few_labels else shared[regions]
        zero |= near_removed & ~near_kept & in_shared
    out = alpha.copy()
    np.copyto(out, 0.0, where=zero)
    return out


# --- temporal smoothing ----------------------------------------------------------------------------

# The motion gate works at half the mask's size: it only has to say where the picture moved, a quarter
# of the pixels makes it several times cheaper, and it was most of what the smoother cost. With the
# per-pixel blend in OpenCV calls (which beat numpy's on arrays this small), the whole update on the
# model's 256x144 copy went 0.29 -> 0.18 ms (tools/flicker_breakdown.py --timing-only).
# Sizes below are HALF-size pixels.
# Box radius over which the frame difference is averaged before it is judged: sensor noise is
# independent per pixel and averages away, a moving person is larger than the box and stays. Radius 2
# at half size is a 10x10 box of mask pixels; radius 1 (6x6) let the gate open on 2-4% of a still dark
# noisy frame (six portraits as in tests/test_refine.py), against 0.2-0.8% for radius 2 and 0.7-1.2%
# for the full-size 7x7 box it replaces.
_CHANGE_BOX_RADIUS = 2
# A pixel counts as moving when the averaged change within _CHANGE_GROW_RADIUS (half-size) pixels of it
# is above the frame's noise: the mask at a pixel also changes when the person moves right next to it.
# 1 here (a 3x3 square) reaches 2-3 mask pixels once the gate is upsampled.
_CHANGE_GROW_RADIUS = 1
_CHANGE_GROW_KERNEL = np.ones((2 * _CHANGE_GROW_RADIUS + 1,) * 2, np.uint8)
# The frame's noise level is this percentile of the averaged change (most of a webcam frame is still,
# so it measures noise even while a person moves through up to ~3/4 of the frame).
_NOISE_PERCENTILE = 25
# Change (in grey levels) that starts to open the gate: NOISE_FACTOR x the noise level + MIN_CHANGE.
# At twice that change the gate is fully open and the pixel takes the new mask at once. MIN_CHANGE
# keeps video-codec shimmer (which the percentile barely sees) from opening it. With the full-size 7x7
# box, 1 let more flicker through on the real videos and 3 lagged a moving person in the dark; with the
# half-size box (which averages more, so a moving edge's change is diluted more), 1.5 keeps the lag of the
# full-size gate (tools/flicker_breakdown.py, low light lag@0 0.430 vs 0.429; 2 gave 0.457) at the same
# flicker on the real videos.
_NOISE_FACTOR = 4.0
_MIN_CHANGE = 1.5
# A cut (another camera or scene in the source, a jump in a video) or a camera pan changes the picture
# nearly everywhere, and the percentile above then takes that change for noise and shuts the gate: the
# old picture's mask (and, in the low-light denoiser, the old picture itself) lingered for several frames
# (37% of a portrait's pixels wrong on the first frame after a cut, 4.5% still on the third, at Studio's
# smoothing). So when the median pixel changed by more than CUT_LEVEL grey levels (averaged over the box,
# after the frame's mean change is taken out, so that an exposure step is not a cut), everything counts as
# moved. Measured at 640x360 (PYTHONPATH=lib .venv/bin/python tools/cut_check.py): the real videos'
# consecutive frames reach 0.67, darkened with fresh noise 0.41; cuts between the evaluation portraits 22.2
# at least (5.5 between two of their dark low-light versions); an exposure step of 5% 1.9; a pan of 4 px a
# frame 3.2.
_CUT_LEVEL = 3.0
# The model's recent answer: an EMA of its confidence with this weight on the newest mask. Where it
# is KEPT_START or more away from the output (a change the model kept for two frames, unlike a one-frame
# toggle, which moves it only half-way), the pixel follows even though the grey picture barely changed
# (a person as bright as the backdrop, a dark room); fully from KEPT_START + KEPT_RAMP. Measured with
# tools/flicker_breakdown.py: no cost in flicker on the videos, and such a person is caught up within
# 2-3 frames instead of ~20.
_RECENT_WEIGHT = 0.5
_KEPT_START = 0.5
_KEPT_RAMP = 0.2
# Per-pixel confidence change at and above which a pixel follows the new mask at once when no frame
# is given (the rule before frame gating; callers without frames keep it).
_MOTION_DIFF = 0.5


def _nearest_rank(values: np.ndarray, percentile: float) -> float:
    """The nearest-rank percentile of non-negative values, quick when many are exactly 0.

    On a real webcam's still background most box-filtered differences are exactly 0, and np.partition
    (np.percentile too) slows down ~50x on such runs of equal values (0.75 ms for 9 000 values, measured);
    the zeros are counted instead and only the rest is partitioned."""
    rank = int(values.size * percentile / 100)
    nonzero = values[values > 0]
    k = rank - (values.size - nonzero.size)
    return 0.0 if k < 0 else float(np.partition(nonzero, k)[k])


def gate_shape(mask_shape: tuple[int, int]) -> tuple[int, int]:
    """The size (h, w) the motion gate works at: half the mask's, rounded up."""
    h, w = mask_shape
    return (h + 1) // 2, (w + 1) // 2


def frame_change_gate(grey: np.ndarray, previous_grey: np.ndarray,
                      shape: tuple[int, int] | None = None) -> np.ndarray:
    """How much each pixel moved between two grey frames, 0 (still) .. 1 (moving), at `shape` (h, w)
    (default: the greys' size). The greys come from grey_at(frame, gate_shape(mask shape)).

      d      = |box(grey - previous_grey)|                box radius CHANGE_BOX_RADIUS, signed first
                                                          so that sensor noise averages away
      noise  = NOISE_PERCENTILE-th percentile of d        (most of the frame is still)
      level  = NOISE_FACTOR * noise + MIN_CHANGE
      gate   = clip(dilate(d) / level - 1, 0, 1)          square dilation, radius CHANGE_GROW_RADIUS
    then bilinear upsampling to `shape`; 1 everywhere when the picture was cut (picture_cut, CUT_LEVEL).
    """
    k = 2 * _CHANGE_BOX_RADIUS + 1
    # one box of the difference = the difference of the boxes
    signed = cv2.blur(cv2.subtract(grey, previous_grey), (k, k))
    # every 4th pixel: neighbours share most of their box anyway; the same levels, 4x cheaper
    if _spread_median(signed[::2, ::2]) > _CUT_LEVEL:
        return np.ones(shape if shape is not None else grey.shape, np.float32)
    d = cv2.absdiff(signed, 0.0)
    noise = _nearest_rank(d[::2, ::2].ravel(), _NOISE_PERCENTILE)
    level = _NOISE_FACTOR * noise + _MIN_CHANGE
    # clip(x / level - 1) is monotonic in x, so it commutes with the dilation: the cut first, in
    # one saturating OpenCV pass, and the dilation (a running max) on the result
    gate = cv2.addWeighted(d, 1.0 / level, d, 0.0, -1.0)
    gate = cv2.dilate(cv2.min(cv2.max(gate, 0.0), 1.0), _CHANGE_GROW_KERNEL)
    if shape is not None and gate.shape != tuple(shape):
        gate = cv2.resize(gate, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return gate


def _spread_median(signed_change: np.ndarray) -> float:
    """The median of the box-averaged grey change less the frame's mean change (frame_change_gate's cut test)."""
    values = signed_change.ravel()
    # numpy, not cv2.absdiff: OpenCV takes an array of 4 values or fewer for a scalar
    return _nearest_rank(np.abs(values - np.float32(values.mean())), 50)


def cut_statistic(grey: np.ndarray, previous_grey: np.ndarray) -> float:
    """How much the picture changed nearly everywhere between two greys from grey_at (see CUT_LEVEL):
    frame_change_gate counts everything as moved above CUT_LEVEL. For measuring and tests."""
    k = 2 * _CHANGE_BOX_RADIUS + 1
    return _spread_median(cv2.blur(cv2.subtract(grey, previous_grey), (k, k))[::2, ::2])


def picture_cut(grey: np.ndarray, previous_grey: np.ndarray) -> bool:
    """Whether frame_change_gate takes the change between two greys for a cut or a pan."""
    return cut_statistic(grey, previous_grey) > _CUT_LEVEL


def grey_at(frame_rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 luma (0..255) of an RGB uint8 frame at size (h, w).

    Luma first (a third of the data to resize); area averaging only when shrinking 2x or more, since
    its non-integer path costs ~10x bilinear and the gate box-averages the change anyway."""
    _check_rgb(frame_rgb)
    h, w = shape
    grey = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    if grey.shape != (h, w):
        interpolation = cv2.INTER_AREA if grey.shape[1] >= 2 * w else cv2.INTER_LINEAR
        grey = cv2.resize(grey, (w, h), interpolation=interpolation)
    return grey.astype(np.float32)


class TemporalSmoother:
    """Temporal hold of the model's confidence, gated by how much the FRAME changed, to stop flicker.

    Per pixel, with s = strength in [0, 0.99], prev = the last output and new = the incoming mask:
      moved  = frame_change_gate(frame, previous frame)    0 where the picture is still, 1 where it moves
      recent = recent + RECENT_WEIGHT * (new - recent)     the model's answer over the last few frames
      kept   = clip((|recent - prev| - KEPT_START) / KEPT_RAMP, 0, 1)
      gate   = max(moved, kept)
      w      = s * (1 - gate)                              (weight kept from the previous output)
      out    = w * prev + (1 - w) * new
    Where the picture did not change, the model's answer should not change either, so its changes there
    (flicker) are blended strongly (w = s); where the picture changed, the pixel takes the new mask at
    once, so a moving person is never smeared, however far the confidence jumps. `kept` catches what the
    grey frame cannot see (a person as bright as the backdrop): a change the model keeps for two frames
    is followed, a one-frame toggle is not. Without a frame the gate is the confidence change itself:
    gate = min(1, |new - prev| / MOTION_DIFF). strength 0 is a passthrough. The state resets itself
    when the mask size changes.
    """

    def __init__(self, strength: float):
        self.strength = 0.0
        self._previous: np.ndarray | None = None
        self._previous_grey: np.ndarray | None = None
        self._recent: np.ndarray | None = None
        self.set_strength(strength)

    def set_strength(self, strength: float) -> None:
        self.strength = min(max(float(strength), 0.0), 0.99)

    def reset(self) -> None:
        self._previous = None
        self._previous_grey = None
        self._recent = None

    def update(self, mask: np.ndarray, frame: np.ndarray | None = None) -> np.ndarray:
        """Smoothed mask; `frame` is the RGB uint8 frame the mask came from (any size)."""
        mask = _check_mask(mask)
        if self.strength <= 0:
            self.reset()
            return mask
        grey = grey_at(frame, gate_shape(mask.shape)) if frame is not None else None
        prev, prev_grey = self._previous, self._previous_grey
        self._previous_grey = grey
        if prev is None or prev.shape != mask.shape:
            self._previous = mask.copy()
            self._recent = mask.copy()
            return mask
        # recent += RECENT_WEIGHT * (mask - recent), as one OpenCV blend
        self._recent = cv2.addWeighted(self._recent, 1.0 - _RECENT_WEIGHT, mask, _RECENT_WEIGHT, 0.0)
        if grey is not None and prev_grey is not None:
            gate = frame_change_gate(grey, prev_grey, mask.shape)
            # kept = clip(|recent - prev| / KEPT_RAMP - KEPT_START / KEPT_RAMP, 0, 1)
            kept = cv2.absdiff(self._recent, prev)
            kept = cv2.addWeighted(kept, 1.0 / _KEPT_RAMP, kept, 0.0, -_KEPT_START / _KEPT_RAMP)
            gate = cv2.max(gate, cv2.min(kept, 1.0))  # kept < 0 is below a gate that is >= 0
        else:
            gate = cv2.min(cv2.absdiff(mask, prev) * np.float32(1.0 / _MOTION_DIFF), 1.0)
        # out = mask + s * (1 - gate) * (prev - mask)
        keep = cv2.addWeighted(gate, -self.strength, gate, 0.0, self.strength)
        out = cv2.add(mask, cv2.multiply(keep, cv2.subtract(prev, mask)))
        self._previous = out
        return out


# --- edges -----------------------------------------------------------------------------------------

def erode_dilate(alpha: np.ndarray, px: int) -> np.ndarray:
    """Grey-level erosion (px > 0, shrinks the person) or dilation (px < 0, grows it).

    Kernel: an ellipse of radius |px| (size 2|px|+1); erosion takes the minimum under it, dilation the
    maximum. 0 returns the input unchanged.
    """
    alpha = _check_mask(alpha, "alpha")
    px = int(px)
    if px == 0:
        return alpha
    r = abs(px)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    op = cv2.erode if px > 0 else cv2.dilate
    return op(alpha, kernel, borderType=cv2.BORDER_REPLICATE)


def _box(x: np.ndarray, radius: int, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=border)


def guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float,
                        border: int = cv2.BORDER_REFLECT) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's window-averaged linear coefficients (box(a), box(b)), so that
    q = box(a) * guide + box(b); grey guide and src float32 HxW of the same size (see guided_filter).
    The OBS filter and finish_alpha use the colour version instead (fast_guided.coefficients, at the
    mask's size)."""
    radius = max(1, int(radius))
    mean_i = _box(guide, radius, border)
    mean_p = _box(src, radius, border)
    cov_ip = _box(guide * src, radius, border) - mean_i * mean_p
    var_i = _box(guide * guide, radius, border) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return _box(a, radius, border), _box(b, radius, border)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al. guided filter with a GREY guide at full size: the reference feather('guided') and the
    measurements use (the filter itself runs the colour version at the mask's size: fast_guided.py).

    A colour guide is first reduced to luma I = 0.299 R + 0.587 G + 0.114 B. With box(x) the mean over a
    (2r+1)^2 window (reflected borders):
      a = (box(I*p) - box(I) box(p)) / (box(I*I) - box(I)^2 + eps)
      b = box(p) - a box(I)
      q = box(a) * I + box(b)
    guide in [0, 1] float32 (HxW or HxWx3), src float32 HxW of the same size; returns float32 q
    (not clipped). eps sets how strong an image edge must be to be followed (~ its variance).
    """
    src = _check_mask(src, "src")
    guide = np.asarray(guide, dtype=np.float32)
    if guide.ndim == 3:
        guide = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    if guide.shape != src.shape:
        raise MattingError(f"guide size {guide.shape[:2]} does not match the mask size {src.shape}")
    mean_a, mean_b = guided_coefficients(guide, src, radius, eps)
    return mean_a * guide + mean_b


# eps of the guided feather, in (0..1 intensity)^2: image edges whose local standard deviation is below
# ~0.017 (4-5 grey levels, a little above webcam noise) are smoothed over rather than followed. Chosen on
# the 12 evaluation portraits (tools/bench_refine.py prints the comparison): 1e-3 and above drift
# toward a plain blur, 1e-4 starts to follow noise for little gain.
_FEATHER_EPS = 3e-4


def feather(alpha: np.ndarray, px: float, mode: str, guide_rgb: np.ndarray | None = None) -> np.ndarray:
    """Soften the mask edge over about `px` pixels.

    'blur':   gaussian blur, sigma = px / 2.
    'guided': guided_filter(frame / 255 as grey guide, alpha, radius = max(1, round(px)), eps = 3e-4),
              so the soft edge follows the frame's own edges (hair, shoulders); falls back to 'blur'
              when no frame is given.
    Result clipped to [0, 1]; px <= 0 returns the input unchanged.
    """
    alpha = _check_mask(alpha, "alpha")
    if px <= 0:
        return alpha
    if mode == "guided" and guide_rgb is not None:
        _check_rgb(guide_rgb, "guide frame")
        if guide_rgb.shape[:2] != alpha.shape:
            raise MattingError(f"guide frame size {guide_rgb.shape[:2]} does not match the mask size "
                               f"{alpha.shape}")
        grey = cv2.cvtColor(guide_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
        out = guided_filter(grey, alpha, max(1, round(px)), _FEATHER_EPS)
    elif mode in ("blur", "guided"):
        out = cv2.GaussianBlur(alpha, (0, 0), px / 2.0, borderType=cv2.BORDER_REPLICATE)
    else:
        raise MattingError(f"feather mode must be 'blur' or 'guided', got {mode!r}")
    return np.clip(out, 0.0, 1.0, out=out)
