"""Fast COLOUR guided filter (He et al. 2013, fast variant He & Sun 2015) at the mask's size, applied at
full size: the CPU half of the filter's 'guided' edge refinement, and its CPU twin (plain numpy/cv2, no
libobs: unit-testable).

The guided filter's linear coefficients are computed at low resolution (the mask's size, guide = the
small copy of the frame the mask came from), upsampled bilinearly and applied against the full-size
frame's colour I = (R, G, B):
    q = mean_A(up) . (I(full) - 0.5) + mean_c(up)
so the edge follows the full-size frame's own edges (hair, shoulders), including edges between colours
of equal brightness that a grey guide cannot see. A re-sharpening ramp (a smoothstep EDGE_RAMP wide
around 0.5) then makes the moved edge crisp again: most true edges are sharp, hair keeps the ramp's width.

On the GPU the coefficients travel in ONE 16-bit RGBA texture (16-bit unorm: 8 bits cannot hold A's
range with the precision a product with I needs):
    R, G, B = mean_A     the slope per colour channel
    A       = mean_c     the alpha a mid-grey pixel would get (the guide is centred on 0.5: that halves
                         what is stored, and what float32 loses to cancellation, against storing b)
each stored as 32768 + v * 32768 / COEF_RANGE (so 0 and small integers are exact: a flat background has
A = 0 and c = 0 exactly), and the shader computes
    q = mean_c + mean_A . (I - 0.5),   alpha = ramp(q)
apply_packed() is the same formula in numpy.

The guide I is the encoded colour, or, when OBS draws in linear light, sqrt(linear colour) per channel:
the shader then reads linear colour and sqrt() is cheap where the sRGB curve's pow() is not.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import MattingError

# Regulariser of the colour guided filter, in (0..1 intensity)^2 per channel: lower follows fainter
# colour edges. Measured with `obs-matting eval` (studio, cafe): 1e-4 beats 3e-4 and 1e-3 slightly,
# 3e-5 gains nothing more.
EPS = 1e-4
# Camera noise raises eps: eps = max(EPS, NOISE_EPS_FACTOR * sigma^2), sigma the guide's noise at the
# mask's size (noise_sigma), so a noisy (dark) frame's grain is not followed as if it were an edge.
# Measured with `obs-matting eval`: on the low-light scene (sigma ~0.01 at mask size) factor 30 gives
# eps ~3e-3 and meets the IoU-loss target that EPS alone misses; clean studio frames (sigma < 0.002)
# keep EPS. 100 and 300 gain under 0.0003 MAE in the dark and cost the cafe scene's textured
# backgrounds more (MAE vs baseline -19.3% and -16.7% instead of -19.9%).
NOISE_EPS_FACTOR = 30.0
# Width of the re-sharpening ramp after the guided filter (refine.soft_threshold around 0.5). Measured
# with `obs-matting eval`: 0.5 to 0.8 beat 0.3 and no ramp (which leaves the edge soft) on studio and
# cafe; 0.8 is a hair better there and worse in the low-light scene, so 0.5.
EDGE_RAMP = 0.5
# Stored coefficients are clipped to [-COEF_RANGE, COEF_RANGE): |mean_A| stays below ~12 on the
# evaluation portraits with EPS = 1e-4; the step is COEF_RANGE / 32768 ~ 0.001.
COEF_RANGE = 32.0
_ZERO_U16 = 32768.0
_U16_PER_UNIT = _ZERO_U16 / COEF_RANGE
MID_GREY = 0.5
# The full-size guide is lightly denoised before the slope multiplies it: camera noise in I reaches the
# alpha as |A| x noise, times up to 3 on the re-sharpening ramp, a shimmer along every edge of a still
# picture (with the guide noise-free it is 0.0001 instead of 0.0020 on `obs-matting eval`'s still test).
# The shader takes two bilinear samples at +-half a pixel on the diagonal (2 texture reads): seven pixels,
# 2/8 the centre and 1/8 six neighbours, noise std x0.40. Measured (studio preset, studio scene, the 12
# portraits): still flicker 0.0020 -> 0.0009 with MAE 0.0055 unchanged; the 3x3 tent (4 reads) gains
# no more, a 2x2 box (1 read) shifts the edge half a pixel (MAE +11%), a gaussian sigma 1.5 costs +2% MAE.
GUIDE_KERNEL = np.array([[1, 1, 0], [1, 2, 1], [0, 1, 1]], np.float32) / np.float32(8.0)


# Temporal filter of the full-size guide (TemporalGuide; the GPU's Temporal pass): what GUIDE_KERNEL
# leaves of the camera noise still reaches the alpha along every edge of a still picture. Per pixel
#     G_t = G_{t-1} + w (I_t - G_{t-1}),   w = 1 - TEMPORAL_KEEP (1 - smoothstep(lo, hi, d))
# with I_t the (denoised) guide of this frame and d = max over channels |I_t - G_{t-1}| in 8-bit levels:
# a still pixel keeps TEMPORAL_KEEP of its history, a moved one (d above hi) takes the new value at once,
# so a moving edge does not lag or smear. The gate follows the camera's noise (motion_gate): lo =
# GATE_SIGMAS x the denoised guide's noise sigma (guide_noise), hi = 2 lo, lo within [GATE_MIN, GATE_MAX]
# levels; a webcam's 2 levels of noise give ~0.8 in the denoised guide and a gate of ~2-4 levels.
# Measured (studio preset, `obs-matting eval`'s still portrait with fresh noise, 30 frames, steady
# edges on; tools/temporal_guide_check.py), with a fixed 2-4 level gate: still flicker 0.00082 without,
# 0.00022 / 0.00017 / 0.00014 / 0.00012 with keep 0.7 / 0.8 / 0.85 / 0.9 (a 1.5-3 gate: 0.00019 at
# 0.9, 3-6: 0.00012). On portraits slid 0.25 / 1 / 3 px a frame (exact truth, fresh noise) MAE and edge
# error move by +0.05% at most with 0.9. A fixed gate lags a slow real change below it on a clean video:
# the eval's video flicker rose 1.22e-06 -> 1.25e-06 (a hand's edge moving 1-3 levels a frame); the
# noise-following gate is the floor GATE_MIN there, and the figure stays as it was.
TEMPORAL_KEEP = 0.9
MOTION_LO = 2.0  # the gate when no noise estimate is given (TemporalGuide.update without noise)
MOTION_HI = 4.0
GATE_SIGMAS = 2.5
GATE_MIN = 0.5
GATE_MAX = 8.0
# sigma of the denoised full-size guide per channel / the grey noise sigma noise_sigma() measures on the
# full frame: GUIDE_KERNEL's x0.40 over grey's x0.67 for independent channel noise; measured 0.56-0.73
# on the still portrait for 1-8 levels of noise (texture adds to the estimate at low noise)
DENOISED_PER_GREY = 0.6


def guide_noise(frame_rgb: np.ndarray, full_width: int) -> float:
    """sigma (8-bit levels) of the denoised full-size guide's noise, estimated from the frame (full
    size: the command line) or a small copy of it drawn with bilinear sampling (OBS's small render:
    from a 2x shrink on each small pixel is the mean of 4 full-size ones, half the noise)."""
    grey_sigma = noise_sigma(guide(frame_rgb, False)) * 255.0
    gain = float(min(2.0, max(1.0, full_width / float(frame_rgb.shape[1]))))
    return grey_sigma * gain * DENOISED_PER_GREY


def motion_gate(noise_levels: float | None) -> tuple[float, float]:
    """(lo, hi) of the motion gate in 8-bit levels for the denoised guide's noise sigma (None: fixed)."""
    if noise_levels is None:
        return MOTION_LO, MOTION_HI
    lo = float(min(GATE_MAX, max(GATE_MIN, GATE_SIGMAS * float(noise_levels))))
    return lo, 2.0 * lo


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


# the guide curve per channel, applied to uint8 with cv2.LUT (8-bit like the frame the shader reads)
_CURVE_LINEAR_SQRT = np.clip(np.sqrt(_srgb_to_linear(np.arange(256) / 255.0)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Refined:
    """What the shader needs for one mask: the packed coefficients and the ramp to apply after them."""
    texture: np.ndarray  # HxWx4 uint16 at the mask's size (see the module docstring)
    ramp: float  # re-sharpening ramp width; 0 = none (blur feather: the texture holds the alpha itself)
    guide_noise: float | None = None  # the guide's noise (guide_noise, 8-bit levels): the temporal gate


def guide_u8(rgb: np.ndarray, linear: bool) -> np.ndarray:
    """uint8 HxWx3 guide of an RGB or RGBA uint8 image (sRGB-encoded), as the shader computes it: the
    colour itself, or sqrt(linear colour) in linear mode (the alpha channel is ignored)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise MattingError(f"guide frame must be RGB(A) uint8 (H x W x 3|4), got {getattr(rgb, 'shape', None)}")
    if rgb.shape[2] == 4:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGBA2RGB)
    return cv2.LUT(rgb, _CURVE_LINEAR_SQRT) if linear else rgb


_SRGB_TO_LINEAR_LUT = _srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)


def full_size_guide(rgb: np.ndarray, linear: bool, denoise: bool = True) -> np.ndarray:
    """float32 HxWx3 guide in 0..255 for the full-size step, as the shader computes it: without denoise
    guide_u8 itself; with it, the pixels through GUIDE_KERNEL (edge pixels repeated, as the shader's
    clamped samples are) and, in linear mode, averaged in linear light before the sqrt (the GPU decodes
    sRGB before it filters)."""
    if not denoise:
        return guide_u8(rgb, linear).astype(np.float32)
    rgb = guide_u8(rgb, False)  # checks the frame, drops an alpha channel
    if not linear:
        return cv2.filter2D(rgb, cv2.CV_32F, GUIDE_KERNEL, borderType=cv2.BORDER_REPLICATE)
    lin = cv2.filter2D(cv2.LUT(rgb, _SRGB_TO_LINEAR_LUT), -1, GUIDE_KERNEL, borderType=cv2.BORDER_REPLICATE)
    return cv2.multiply(cv2.sqrt(lin), 255.0)


def temporal_weight(diff_levels: np.ndarray, keep: float = TEMPORAL_KEEP, lo: float = MOTION_LO,
                    hi: float = MOTION_HI) -> np.ndarray:
    """w of the recursive filter for a per-pixel change d (8-bit levels): 1 - keep where still (d <= lo),
    1 where moved (d >= hi), a smoothstep between (the shader's smoothstep)."""
    t = np.clip((diff_levels - np.float32(lo)) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)
    moved = t * t * (np.float32(3.0) - np.float32(2.0) * t)
    return (np.float32(1.0) - np.float32(keep) * (np.float32(1.0) - moved)).astype(np.float32, copy=False)


class TemporalGuide:
    """Per-stream state of the temporal guide filter (see TEMPORAL_KEEP): the previous G at full size.

    update(I, noise) takes this frame's guide (float32 HxWx3, 0..255, e.g. full_size_guide) and the
    guide's noise sigma (guide_noise; None = the fixed gate lo, hi) and returns G_t (an array owned by
    this object: valid until the next update). The first frame, the first after reset() and the first
    after a size change return I itself. One instance per video stream; its owner
    (pipeline.MaskPipeline) resets it with the stream."""

    def __init__(self, keep: float = TEMPORAL_KEEP, lo: float = MOTION_LO, hi: float = MOTION_HI):
        if not 0.0 <= keep < 1.0 or not 0.0 <= lo < hi:
            raise MattingError(f"temporal guide needs 0 <= keep < 1 and 0 <= lo < hi, got {keep}, {lo}, {hi}")
        self.keep, self.lo, self.hi = float(keep), float(lo), float(hi)
        self.state: np.ndarray | None = None

    def reset(self) -> None:
        self.state = None

    def update(self, guide_full: np.ndarray, noise: float | None = None) -> np.ndarray:
        guide_full = np.asarray(guide_full, dtype=np.float32)
        if guide_full.ndim != 3 or guide_full.shape[2] != 3:
            raise MattingError(f"temporal guide takes an HxWx3 guide, got {guide_full.shape}")
        g = self.state
        if g is None or g.shape != guide_full.shape:
            self.state = guide_full.copy()
            return self.state
        delta = cv2.subtract(guide_full, g)
        # the largest change over the channels, per pixel: numpy's max over the last axis of an HxWx3
        # array walks it pixel by pixel and cost ~9x the three planes' element-wise maximum
        ch = cv2.split(np.abs(delta))
        d = cv2.max(cv2.max(ch[0], ch[1]), ch[2])
        lo, hi = (self.lo, self.hi) if noise is None else motion_gate(noise)
        w = temporal_weight(d, self.keep, lo, hi)
        cv2.add(g, cv2.multiply(delta, cv2.merge([w, w, w])), dst=g)
        return g


def guide(rgb: np.ndarray, linear: bool) -> np.ndarray:
    """float32 HxWx3 guide in [0, 1] (see guide_u8)."""
    return guide_u8(rgb, linear).astype(np.float32) * np.float32(1 / 255.0)


def small_guide(frame_rgb: np.ndarray, mask_shape: tuple[int, int], linear: bool) -> np.ndarray:
    """The guide at the mask's size from a copy of the frame (RGB or RGBA uint8).

    Bilinear resize when the copy is already small (the model's input: a mild rescale, and INTER_AREA's
    non-integer path costs ~10x more); area averaging from a 2x shrink on (a full-size frame).
    """
    h, w = mask_shape
    if frame_rgb.shape[:2] != (h, w):
        interpolation = cv2.INTER_AREA if frame_rgb.shape[1] >= 2 * w else cv2.INTER_LINEAR
        frame_rgb = cv2.resize(frame_rgb, (w, h), interpolation=interpolation)
    return guide(frame_rgb, linear)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Box mean of every channel of x (replicated borders: what the GPU's clamp sampler gives)."""
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REPLICATE)


class _Buffers:
    """Float32 work arrays for one mask size, kept from call to call (one set per thread).

    Why: the coefficients need ~40 mask-size intermediates (~6 MB). Allocated afresh on every call,
    glibc can hand the freed top of the heap back to the system at the end of the call (its trim
    threshold follows the largest block freed) and the next call then page-faults all of it in again:
    in a loop of calls alone `coefficients` took ~6.5 ms at 256x144, ~1.5 ms with MALLOC_TRIM_THRESHOLD_
    set high (which confirmed the cause). Reused buffers never leave the process, whatever the allocator
    does; the channels are planes so that every step reads contiguous memory. tools/bench_refine.py,
    old and new alternately: coefficients 1.7-2.0 -> 1.3 ms, refine_packed 2.3-2.9 -> 1.5-1.6 ms."""

    def __init__(self, h: int, w: int):
        self.shape = (h, w)
        self._arrays: dict[str, np.ndarray] = {}

    def get_planes(self, name: str, count: int) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None:
            a = self._arrays[name] = np.empty((count, *self.shape), np.float32)
        return a

    def get(self, name: str, channels: int = 0) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None:
            h, w = self.shape
            a = self._arrays[name] = np.empty((h, w, channels) if channels else (h, w), np.float32)
        return a


_THREAD_BUFFERS = threading.local()


def _buffers(h: int, w: int) -> _Buffers:
    """This thread's buffers for an h x w mask (two filter instances refine on two threads at once)."""
    b = getattr(_THREAD_BUFFERS, "buffers", None)
    if b is None or b.shape != (h, w):
        b = _THREAD_BUFFERS.buffers = _Buffers(h, w)
    return b


def coefficients(guide_small: np.ndarray, alpha_small: np.ndarray, radius: int,
                 eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """(mean_A HxWx3, mean_c HxW) of the colour guided filter at the mask's size, float32, such that
    q = mean_A . (I - 0.5) + mean_c.

    Per (2r+1)^2 window: A = (Sigma + eps U)^-1 cov(I, p), c = mean(p) - A . (mean(I) - 0.5), Sigma the
    3x3 covariance of the guide's colour (He et al. 2013, eq. 14, with the guide centred on mid-grey:
    the same filter, and float32 loses less to cancellation); then both are box-averaged. The inverse is
    the closed-form adjugate / determinant: a batched np.linalg.solve costs ~10x more.
    """
    smoothed = _coefficients_in_buffers(guide_small, alpha_small, radius, eps)
    return smoothed[:, :, :3].copy(), smoothed[:, :, 3].copy()


def _coefficients_in_buffers(guide_small: np.ndarray, alpha_small: np.ndarray, radius: int,
                             eps: float) -> np.ndarray:
    """coefficients() as one HxWx4 array (A_r, A_g, A_b, c) that lives in this thread's buffers: valid
    until the thread's next call. Every step writes into a reused buffer (see _Buffers)."""
    if guide_small.ndim != 3 or guide_small.shape[2] != 3 or guide_small.shape[:2] != alpha_small.shape:
        raise MattingError(f"guide size {guide_small.shape} does not match the mask size {alpha_small.shape}")
    radius = max(1, int(radius))
    h, w = alpha_small.shape
    buf = _buffers(h, w)
    mul, sub, add = np.multiply, np.subtract, np.add
    p = alpha_small.astype(np.float32, copy=False)
    # The thirteen window means: I (3), p, I*p (3), the six products I_i * I_j. Planes (13, h, w), not
    # interleaved channels: every later step then reads 150 KB of contiguous floats, not a strided
    # view of a 1.9 MB array.
    planes, means = buf.get_planes("planes", 13), buf.get_planes("means", 13)
    for k in range(3):
        sub(guide_small[:, :, k], np.float32(MID_GREY), out=planes[k])
    r, g, b = planes[0], planes[1], planes[2]
    planes[3] = p
    for k, (x, y) in enumerate(((r, p), (g, p), (b, p), (r, r), (r, g), (r, b), (g, g), (g, b), (b, b)), start=4):
        mul(x, y, out=planes[k])
    size = 2 * radius + 1
    for k in range(13):
        cv2.boxFilter(planes[k], -1, (size, size), dst=means[k], borderType=cv2.BORDER_REPLICATE)
    m_r, m_g, m_b, m_p, m_rp, m_gp, m_bp, m_rr, m_rg, m_rb, m_gg, m_gb, m_bb = means
    t, t2 = buf.get("t"), buf.get("t2")  # scratch

    def covariance(name: str, xy: np.ndarray, x: np.ndarray, y: np.ndarray, plus: float = 0.0) -> np.ndarray:
        out = buf.get(name)
        mul(x, y, out=t)
        sub(xy, t, out=out)
        if plus:
            add(out, np.float32(plus), out=out)
        return out
    c_r, c_g, c_b = covariance("c_r", m_rp, m_r, m_p), covariance("c_g", m_gp, m_g, m_p), covariance("c_b", m_bp, m_b, m_p)
    s_rr, s_gg, s_bb = (covariance("s_rr", m_rr, m_r, m_r, eps), covariance("s_gg", m_gg, m_g, m_g, eps),
                        covariance("s_bb", m_bb, m_b, m_b, eps))
    s_rg, s_rb, s_gb = covariance("s_rg", m_rg, m_r, m_g), covariance("s_rb", m_rb, m_r, m_b), covariance("s_gb", m_gb, m_g, m_b)

    def minor(name: str, a: np.ndarray, b_: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        """a * b - c * d"""
        out = buf.get(name)
        mul(a, b_, out=out)
        mul(c, d, out=t)
        sub(out, t, out=out)
        return out
    # adjugate of the symmetric matrix [[rr rg rb] [rg gg gb] [rb gb bb]]
    i_rr, i_gg, i_bb = minor("i_rr", s_gg, s_bb, s_gb, s_gb), minor("i_gg", s_rr, s_bb, s_rb, s_rb), minor("i_bb", s_rr, s_gg, s_rg, s_rg)
    i_rg, i_rb, i_gb = minor("i_rg", s_gb, s_rb, s_rg, s_bb), minor("i_rb", s_rg, s_gb, s_gg, s_rb), minor("i_gb", s_rb, s_rg, s_rr, s_gb)

    def dot3(out: np.ndarray, a: tuple, b_: tuple) -> np.ndarray:
        """a0 * b0 + a1 * b1 + a2 * b2"""
        mul(a[0], b_[0], out=out)
        for x, y in zip(a[1:], b_[1:]):
            mul(x, y, out=t)
            add(out, t, out=out)
        return out
    inv_det = dot3(buf.get("inv_det"), (s_rr, s_rg, s_rb), (i_rr, i_rg, i_rb))
    np.divide(np.float32(1.0), inv_det, out=inv_det)
    coef = buf.get_planes("coef", 4)  # A_r, A_g, A_b, c before the final box
    cs = (c_r, c_g, c_b)
    for k, row in enumerate(((i_rr, i_rg, i_rb), (i_rg, i_gg, i_gb), (i_rb, i_gb, i_bb))):
        mul(dot3(t2, row, cs), inv_det, out=coef[k])
    # c = mean(p) - A . mean(I)
    sub(m_p, dot3(t2, (coef[0], coef[1], coef[2]), (m_r, m_g, m_b)), out=coef[3])
    smoothed = buf.get("smoothed", 4)
    for k in range(4):
        cv2.boxFilter(coef[k], -1, (size, size), dst=t2, borderType=cv2.BORDER_REPLICATE)
        smoothed[:, :, k] = t2
    return smoothed


_SUM_OF_FOUR = np.ones((1, 4), np.float32)
_LAPLACIAN_DIFFERENCE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(guide_small: np.ndarray) -> float:
    """Standard deviation of the guide's noise (0..1 units), robust to texture.

    Immerkaer's estimator (1996): the kernel [[1 -2 1] [-2 4 -2] [1 -2 1]] cancels smooth image content,
    and sqrt(pi / 2) / 6 * mean|response| is the noise sigma of white noise. Edges and texture respond
    too, so the mean is taken per 8x8 block and the 10th percentile of the blocks is kept: noise is
    everywhere, texture is not.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(guide_small, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    response = np.abs(cv2.filter2D(grey, -1, _LAPLACIAN_DIFFERENCE))[1:-1, 1:-1]
    if response.size == 0:  # two pixels or fewer across: no interior to measure, and nothing to steady
        return 0.0
    bh, bw = max(1, response.shape[0] // 8), max(1, response.shape[1] // 8)
    blocks = cv2.resize(response, (bw, bh), interpolation=cv2.INTER_AREA)
    return float(np.sqrt(np.pi / 2) / 6 * np.percentile(blocks, 10))


def noise_aware_eps(guide_small: np.ndarray) -> float:
    """The regulariser for this guide: EPS, raised to NOISE_EPS_FACTOR * sigma^2 on a noisy frame."""
    return max(EPS, NOISE_EPS_FACTOR * noise_sigma(guide_small) ** 2)


def _encode(v: np.ndarray) -> np.ndarray:
    return np.clip(v * np.float32(_U16_PER_UNIT) + np.float32(_ZERO_U16 + 0.5), 0, 65535).astype(np.uint16)


def pack(mean_a: np.ndarray, mean_c: np.ndarray) -> np.ndarray:
    """The RGBA uint16 texture the shader reads: (mean_A, mean_c), see the module docstring."""
    return _encode(cv2.merge([mean_a[:, :, 0], mean_a[:, :, 1], mean_a[:, :, 2], mean_c]))


def pack_alpha(alpha: np.ndarray) -> np.ndarray:
    """A texture without slope: the shader's formula returns the alpha itself (c = alpha, A = 0)."""
    zero = np.zeros_like(alpha)
    return pack(cv2.merge([zero, zero, zero]), alpha)


def unpack(texture: np.ndarray) -> np.ndarray:
    """float32 coefficients (A_r, A_g, A_b, c) of a packed texture (any size: bilinear is linear)."""
    return (texture.astype(np.float32) - np.float32(_ZERO_U16)) * np.float32(1.0 / _U16_PER_UNIT)


# Knob sizes (erode, feather) are pixels of a frame whose long side is this; they scale with the frame so
# a preset tuned on one resolution does the same thing at another. The model's errors scale with the
# frame (its mask is a fixed size), so a fixed output-pixel radius would correct a 1080p frame only a
# third as far as a 360p one.
REFERENCE_LONG_SIDE = 1280


def output_px(knob_px: float, output_size: tuple[int, int]) -> float:
    """A knob's size (pixels at a 1280-pixel long side) in pixels of an output of output_size (w, h)."""
    return knob_px * max(output_size) / float(REFERENCE_LONG_SIDE)


def radius_at_mask_size(feather_px: float, mask_width: int, output_width: int, max_radius: int = 8) -> int:
    """The guided radius: feather_px output pixels in mask pixels (at least 1, at most max_radius)."""
    return int(min(max_radius, max(1, round(round(feather_px) * mask_width / float(output_width)))))


def resharpen(q: np.ndarray, ramp: float) -> np.ndarray:
    """clip(q) through a smoothstep `ramp` wide around 0.5 (refine.soft_threshold's formula); 0 = clip only."""
    q = np.clip(q, 0.0, 1.0)
    if ramp <= 0:
        return q
    t = np.clip((q - np.float32(0.5 - ramp / 2.0)) * np.float32(1.0 / ramp), 0.0, 1.0)
    return t * t * (np.float32(3.0) - np.float32(2.0) * t)


def apply_packed(refined: Refined, frame_rgb: np.ndarray, linear: bool = False, denoise: bool = True,
                 guide_full: np.ndarray | None = None) -> np.ndarray:
    """CPU twin of the shader: bilinear upsampling of the packed texture, q = c + A . (I - 0.5), ramp,
    with I the full-size guide (full_size_guide: denoised unless told not to), or guide_full when given
    (float32 HxWx3 in 0..255: the temporally filtered guide, TemporalGuide).

    The same sum, arranged for the CPU: the guide's centring and 8-bit scale are folded into the small
    coefficients, q = sum_k (A_k / 255) I8_k + (c - 0.5 sum_k A_k), so that the full-size work is one
    4-channel resize, one multiply by the guide as RGBA (its alpha 1 carries the bias) and one channel
    sum (a third less time than upsampling (A, c) and centring the frame).
    """
    h, w = frame_rgb.shape[:2]
    coef = unpack(refined.texture)
    a_r, a_g, a_b, mid = cv2.split(coef)
    bias = mid - np.float32(MID_GREY) * (a_r + a_g + a_b)
    scale = np.float32(1 / 255.0)
    up = cv2.resize(cv2.merge([a_r * scale, a_g * scale, a_b * scale, bias]), (w, h),
                    interpolation=cv2.INTER_LINEAR)
    if guide_full is None:
        guide_full = full_size_guide(frame_rgb, linear, denoise)
    elif guide_full.shape[:2] != (h, w):
        raise MattingError(f"guide size {guide_full.shape[:2]} does not match the frame size {(h, w)}")
    rgba = cv2.cvtColor(np.asarray(guide_full, np.float32), cv2.COLOR_RGB2RGBA)  # float: A = 1
    q = cv2.transform(cv2.multiply(rgba, up), _SUM_OF_FOUR)
    return resharpen(q, refined.ramp).astype(np.float32, copy=False)


def fast_guided_feather(alpha_small: np.ndarray, frame_rgb: np.ndarray, feather_px: float,
                        linear: bool = False, eps: float | None = None, ramp: float = EDGE_RAMP) -> np.ndarray:
    """Full-size alpha from a mask-size alpha, as the OBS filter draws it (the CPU twin).

    feather_px is the guided window's radius in output pixels; eps None = noise_aware_eps.
    """
    alpha_small = np.asarray(alpha_small, dtype=np.float32)
    if alpha_small.ndim != 2 or alpha_small.size == 0:
        raise MattingError(f"mask must be a non-empty 2-D array, got shape {alpha_small.shape}")
    g = small_guide(frame_rgb, alpha_small.shape, linear)
    radius = radius_at_mask_size(feather_px, alpha_small.shape[1], frame_rgb.shape[1])
    eps = noise_aware_eps(g) if eps is None else eps
    return apply_packed(Refined(pack(*coefficients(g, alpha_small, radius, eps)), ramp), frame_rgb, linear)


def erode_small(alpha_small: np.ndarray, radius_px: float) -> np.ndarray:
    """Grey erosion (radius > 0) / dilation (< 0) by a sub-pixel radius at the mask's size.

    Radii in output pixels are mostly fractions of a mask pixel (2 px on a 1280-wide source is 0.4 of a
    256-wide mask's pixel), too small for a morphological kernel. On a smooth mask the minimum over a
    disk of radius r is, to first order, alpha - r * |grad alpha|, which is what the fraction gets. That
    only moves the edge within the mask's soft band, so whole mask pixels of the radius are a true grey
    erosion / dilation by a disk first (the slider's larger values: 20 px on a 1280-wide source is 4).
    """
    if radius_px == 0:
        return alpha_small
    whole = int(abs(radius_px))
    rest = np.float32(abs(radius_px) - whole)
    out = alpha_small
    if whole:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * whole + 1, 2 * whole + 1))
        out = (cv2.erode if radius_px > 0 else cv2.dilate)(out, disk)
    if rest:
        gy, gx = np.gradient(out)
        step = rest if radius_px > 0 else -rest
        out = np.clip(out - step * np.sqrt(gx * gx + gy * gy), 0.0, 1.0)
    return out.astype(np.float32, copy=False)


def refine_packed(mask_u8: np.ndarray, guide_frame: np.ndarray | None, erode_px: float, feather_px: float,
                  guided: bool, output_size: tuple[int, int], linear: bool, noise: bool = True) -> Refined:
    """Everything the filter does to a new mask, at the mask's size: erode/dilate, then the colour
    guided coefficients (eps from the guide's noise; or a gaussian feather, sigma = px / 2, when not
    guided), packed for the shader.

    Radii are knob sizes (pixels at a 1280-pixel long side, see output_px); output_size is (w, h).
    Without a guide frame (or when not guided) the slope is 0 and there is
    no ramp, so the shader's formula returns the refined alpha, bilinearly upsampled.
    noise: also estimate the guide frame's noise (Refined.guide_noise, the temporal guide's gate); only
    the temporal guide reads it, and on a full-size frame it costs ~15 ms (720p), so callers without one
    say False.
    """
    alpha = mask_u8.astype(np.float32) * np.float32(1 / 255.0)
    h, w = alpha.shape
    output_width = output_size[0]
    erode_px, feather_px = output_px(erode_px, output_size), output_px(feather_px, output_size)
    scale = w / float(output_width)  # mask pixels per output pixel
    alpha = erode_small(alpha, erode_px * scale)
    if feather_px > 0 and guided and guide_frame is not None:
        g = small_guide(guide_frame, (h, w), linear)
        coef = _coefficients_in_buffers(g, alpha, radius_at_mask_size(feather_px, w, output_width), noise_aware_eps(g))
        return Refined(_encode(coef), EDGE_RAMP, guide_noise(guide_frame, output_width) if noise else None)
    if feather_px > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(feather_px / 2.0 * scale, 0.1), borderType=cv2.BORDER_REPLICATE)
    return Refined(pack_alpha(alpha), 0.0)
