"""Fast guided filter (He & Sun 2015) at the mask's size, applied at full size: the CPU half of the
filter's 'guided' edge refinement, and its CPU twin (plain numpy/cv2, no libobs: unit-testable).

refine.feather('guided') filters at full resolution. The fast variant computes the guided filter's
linear coefficients at low resolution (the mask's size, guide = the small copy of the frame the mask
came from), upsamples them bilinearly and applies them against the full-size frame:
    alpha = mean_a(up) * I(full) + mean_b(up)
so the edge follows the full-size frame's own edges (hair, shoulders) for the price of one texture
sample in the shader.

On the GPU the coefficients travel in ONE 8-bit RGBA texture (float textures are llvmpipe's slow path):
    R = q    = clip(mean_a * I_small + mean_b, 0, 1)   the guided alpha at the mask's size
    G = a    = mean_a / SLOPE_RANGE + 128/255            the slope, 0 stored exactly as 128
    B = I_small                                        the guide at the mask's size
and the shader computes alpha = R + (G - 128/255) * SLOPE_RANGE * (I - B), which equals
mean_a * I + mean_b wherever the three channels come from the same texel (and is exactly 0 in a flat
background, where q = 0 and a = 0). apply_packed() is the same formula in numpy.

The guide I is luma of the encoded colour, or, when OBS draws in linear light, luma of sqrt(linear
colour): the shader then reads linear colour and sqrt() is cheap where the sRGB curve's pow() is not.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import refine
from .errors import MattingError

EPS = 3e-4  # refine.feather's guided eps: the same regulariser as the CPU pipeline
SLOPE_RANGE = 32.0  # |mean_a| can reach 1 / (4 sqrt(eps)) ~ 14.4: stored in [-16, 16)
ZERO_SLOPE = 128.0 / 255.0
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


# the guide curve per channel, applied to uint8 with cv2.LUT (8-bit like the shader's stored guide)
_CURVE_LINEAR_SQRT = np.clip(np.sqrt(_srgb_to_linear(np.arange(256) / 255.0)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def guide_u8(rgb: np.ndarray, linear: bool) -> np.ndarray:
    """uint8 HxW guide of an RGB or RGBA uint8 image (sRGB-encoded), as the shader computes it."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise MattingError(f"guide frame must be RGB(A) uint8 (H x W x 3|4), got {getattr(rgb, 'shape', None)}")
    if linear:
        rgb = cv2.LUT(rgb, _CURVE_LINEAR_SQRT)
    return cv2.cvtColor(rgb, cv2.COLOR_RGBA2GRAY if rgb.shape[2] == 4 else cv2.COLOR_RGB2GRAY)


def guide(rgb: np.ndarray, linear: bool) -> np.ndarray:
    """float32 HxW guide in [0, 1] (see guide_u8)."""
    return guide_u8(rgb, linear).astype(np.float32) * np.float32(1 / 255.0)


def coefficients(guide_small: np.ndarray, alpha_small: np.ndarray, radius: int,
                 eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """(mean_a, mean_b) of the guided filter at the mask's size, float32 HxW each."""
    if guide_small.shape != alpha_small.shape:
        raise MattingError(f"guide size {guide_small.shape} does not match the mask size {alpha_small.shape}")
    # replicated borders: what the GPU's clamp sampler gives
    return refine.guided_coefficients(guide_small.astype(np.float32, copy=False),
                                      alpha_small.astype(np.float32, copy=False), radius, eps,
                                      border=cv2.BORDER_REPLICATE)


def pack(guide_small: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray) -> np.ndarray:
    """The RGBA uint8 texture the shader reads (see the module docstring)."""
    h, w = guide_small.shape
    out = np.empty((h, w, 4), np.uint8)
    q = mean_a * guide_small + mean_b  # with mean_a = 0 (no guide): q = mean_b, the plain alpha
    out[:, :, 0] = np.clip(q * 255.0 + 0.5, 0, 255)
    out[:, :, 1] = np.clip(mean_a * (255.0 / SLOPE_RANGE) + 128.5, 0, 255)
    out[:, :, 2] = np.clip(guide_small * 255.0 + 0.5, 0, 255)
    out[:, :, 3] = 255
    return out


def radius_at_mask_size(feather_px: float, mask_width: int, output_width: int, max_radius: int = 8) -> int:
    """refine.feather's guided radius round(px), in mask pixels (at least 1)."""
    return int(min(max_radius, max(1, round(round(feather_px) * mask_width / float(output_width)))))


def apply_packed(packed: np.ndarray, frame_rgb: np.ndarray, linear: bool = False) -> np.ndarray:
    """CPU twin of the shader: bilinear upsampling of the packed texture, then R + a * (I - B)."""
    h, w = frame_rgb.shape[:2]
    up = cv2.resize(packed.astype(np.float32) * np.float32(1 / 255.0), (w, h), interpolation=cv2.INTER_LINEAR)
    slope = (up[:, :, 1] - np.float32(ZERO_SLOPE)) * np.float32(SLOPE_RANGE)
    alpha = up[:, :, 0] + slope * (guide(frame_rgb, linear) - up[:, :, 2])
    return np.clip(alpha, 0.0, 1.0)


def small_guide(frame_rgb: np.ndarray, mask_shape: tuple[int, int], linear: bool) -> np.ndarray:
    """The guide at the mask's size from a copy of the frame (RGB or RGBA uint8).

    Bilinear resize: the copy the filter has is already small (the model's input), so this is a mild
    rescale, and INTER_AREA's non-integer path costs ~10x more (1 ms on the graphics thread).
    """
    h, w = mask_shape
    if frame_rgb.shape[:2] != (h, w):
        interpolation = cv2.INTER_AREA if frame_rgb.shape[1] >= 2 * w else cv2.INTER_LINEAR
        frame_rgb = cv2.resize(frame_rgb, (w, h), interpolation=interpolation)
    return guide(frame_rgb, linear)


def fast_guided_feather(alpha_small: np.ndarray, frame_rgb: np.ndarray, feather_px: float,
                        linear: bool = False, eps: float = EPS) -> np.ndarray:
    """Full-size alpha from a mask-size alpha, as the OBS filter draws it (the CPU twin).

    A drop-in for compose.finish_alpha's upsample + feather('guided') when the mask is small:
    feather_px is in output pixels, like refine.feather's.
    """
    alpha_small = np.asarray(alpha_small, dtype=np.float32)
    if alpha_small.ndim != 2 or alpha_small.size == 0:
        raise MattingError(f"mask must be a non-empty 2-D array, got shape {alpha_small.shape}")
    g = small_guide(frame_rgb, alpha_small.shape, linear)
    radius = radius_at_mask_size(feather_px, alpha_small.shape[1], frame_rgb.shape[1])
    mean_a, mean_b = coefficients(g, alpha_small, radius, eps)
    return apply_packed(pack(g, mean_a, mean_b), frame_rgb, linear)


def erode_small(alpha_small: np.ndarray, radius_px: float) -> np.ndarray:
    """Grey erosion (radius > 0) / dilation (< 0) by a sub-pixel radius at the mask's size.

    Radii in output pixels are fractions of a mask pixel (2 px on a 1280-wide source is 0.4 of a
    256-wide mask's pixel), too small for a morphological kernel. On a smooth mask the minimum over a
    disk of radius r is, to first order, alpha - r * |grad alpha|, which is what this returns (clipped).
    """
    if radius_px == 0:
        return alpha_small
    gy, gx = np.gradient(alpha_small)
    return np.clip(alpha_small - np.float32(radius_px) * np.sqrt(gx * gx + gy * gy), 0.0, 1.0).astype(np.float32)


def refine_packed(mask_u8: np.ndarray, guide_frame: np.ndarray | None, erode_px: float, feather_px: float,
                  guided: bool, output_width: int, linear: bool) -> np.ndarray:
    """Everything the filter does to a new mask, at the mask's size: erode/dilate, then the guided
    coefficients (or a gaussian feather, sigma = px / 2, when not guided), packed for the shader.

    Radii are in output pixels. Without a guide frame (or when not guided) the slope is 0, so the
    shader's formula returns R, the refined alpha, bilinearly upsampled.
    """
    alpha = mask_u8.astype(np.float32) * np.float32(1 / 255.0)
    h, w = alpha.shape
    scale = w / float(output_width)  # mask pixels per output pixel
    alpha = erode_small(alpha, erode_px * scale)
    if feather_px > 0 and guided and guide_frame is not None:
        g = small_guide(guide_frame, (h, w), linear)
        mean_a, mean_b = coefficients(g, alpha, radius_at_mask_size(feather_px, w, output_width), EPS)
        return pack(g, mean_a, mean_b)
    if feather_px > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(feather_px / 2.0 * scale, 0.1), borderType=cv2.BORDER_REPLICATE)
    zero = np.zeros_like(alpha)
    return pack(zero, zero, alpha)  # q = alpha, slope 0
