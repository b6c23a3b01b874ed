"""The edge refinement shared by the OBS filter and the command line (obsmatte.fast_guided) and the filter's staging pacer.

fast_guided is what the filter uploads for the shader, and the CPU twin of the shader's maths; the
pacer decides on which frames the filter pays llvmpipe's staging flush. Neither needs OBS."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from obsmatte import refine
from obsmatte.compose import upsample_mask
from obsmatte.errors import MattingError
from obsmatte import fast_guided as F
from obsmatte.obs.stage_pacer import IDLE_STAGE_INTERVAL_S, StagePacer


def _mask_size(h: int, w: int) -> tuple[int, int]:
    return max(1, round(256 * h / w)), 256  # the default model's landscape output is 256 wide


def _edge_band(alpha: np.ndarray) -> np.ndarray:
    soft = ((alpha > 0.02) & (alpha < 0.98)).astype(np.uint8)
    return cv2.dilate(soft, np.ones((9, 9), np.uint8)).astype(bool)


def test_fast_guided_refines_real_edges_and_matches_the_full_guided_filter(portraits):
    """On the 12 portraits, from a mask at the model's size: closer to the true alpha in the edge band
    than bilinear upsampling, and close to refine.feather('guided') at full size."""
    up_err, fast_err, twin_diff = [], [], []
    for name, rgb, truth in portraits:
        h, w = truth.shape
        mh, mw = _mask_size(h, w)
        mask = cv2.resize(truth, (mw, mh), interpolation=cv2.INTER_AREA)
        up = upsample_mask(mask, (w, h))
        fast = F.fast_guided_feather(mask, rgb, 2.0)
        full = np.clip(refine.feather(up, 2.0, "guided", rgb), 0, 1)
        band = _edge_band(truth)
        up_err.append(np.abs(up - truth)[band].mean())
        fast_err.append(np.abs(fast - truth)[band].mean())
        twin_diff.append(np.abs(fast - full).mean())
    print(f"edge-band MAE: bilinear {np.mean(up_err):.4f}, fast guided {np.mean(fast_err):.4f}; "
          f"mean |fast - full guided| {np.mean(twin_diff):.4f}")
    assert np.mean(fast_err) < np.mean(up_err)
    assert np.mean(twin_diff) < 0.01


def test_packed_texture_reproduces_the_coefficients(portraits):
    """apply_packed (the shader's formula) equals clip(mean_a * I + mean_b) up to 8-bit storage."""
    _, rgb, truth = portraits[0]
    mh, mw = _mask_size(*truth.shape)
    small_rgb = cv2.resize(rgb, (mw, mh), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(truth, (mw, mh), interpolation=cv2.INTER_AREA)
    for linear in (False, True):
        g = F.small_guide(small_rgb, mask.shape, linear)
        a, b = F.coefficients(g, mask, 1)
        exact = np.clip(a * g + b, 0, 1)
        got = F.apply_packed(F.pack(g, a, b), small_rgb, linear)  # same size: no upsampling
        assert np.abs(got - exact).max() <= 2.5 / 255, linear


def test_flat_background_stays_exactly_transparent():
    """Slope 0 is stored exactly (128): a background with mask 0 gives alpha exactly 0, not ~1/255."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (144, 256, 3), dtype=np.uint8)
    mask = np.zeros((144, 256), np.uint8)
    mask[40:100, 100:160] = 255
    packed = F.refine_packed(mask, frame, 0, 2.0, True, 1280, linear=True)
    full = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
    alpha = F.apply_packed(packed, full, linear=True)
    far = np.ones((720, 1280), bool)
    far[100:600, 400:900] = False
    assert (alpha[far] == 0).all()
    assert alpha[330:390, 600:680].min() > 0.9


def test_blur_feather_and_erode_without_a_guide():
    mask = np.zeros((144, 256), np.uint8)
    mask[40:100, 100:160] = 255
    mask = cv2.GaussianBlur(mask, (0, 0), 1.5)
    plain = F.refine_packed(mask, None, 0, 0.0, True, 1280, linear=False)
    assert (plain[:, :, 1] == 128).all() and np.abs(plain[:, :, 0].astype(int) - mask).max() <= 1
    eroded = F.refine_packed(mask, None, 4, 0.0, False, 1280, linear=False)[:, :, 0]
    dilated = F.refine_packed(mask, None, -4, 0.0, False, 1280, linear=False)[:, :, 0]
    assert eroded.sum() < plain[:, :, 0].sum() < dilated.sum()
    feathered = F.refine_packed(mask, None, 0, 8.0, False, 1280, linear=False)[:, :, 0]
    assert feathered.max() <= mask.max() and (feathered > 0).sum() > (mask > 0).sum()


def test_bad_input_is_a_clear_error():
    with pytest.raises(MattingError):
        F.guide(np.zeros((4, 4), np.float32), False)
    with pytest.raises(MattingError):
        F.coefficients(np.zeros((4, 4), np.float32), np.zeros((5, 4), np.float32), 1)
    with pytest.raises(MattingError):
        F.fast_guided_feather(np.zeros((0,), np.float32), np.zeros((4, 4, 3), np.uint8), 2.0)


# ------------------------------------------------------------------------------------ stage pacer
def _simulate(pacer: StagePacer, frames: int, busy_s: float, cap: float, fps: float = 30.0) -> int:
    """Drive the pacer like video_render does, with a worker that takes busy_s per frame."""
    dt = 1.0 / fps
    staged_at = None  # (frame id, time) of the copy in flight
    done_frame, done_at = None, None  # the worker's newest mask
    working = None  # (frame id, finish time)
    seq = 0
    for n in range(1, frames + 1):
        now = n * dt
        if working and working[1] <= now:
            seq += 1
            done_frame, done_at = working[0], working[1]
            working = None
        if staged_at is not None:  # map last frame's copy and post it
            pacer.posted(staged_at[0], now)
            if working is None:
                working = (staged_at[0], now + busy_s)
            staged_at = None
        if done_frame is not None:
            pacer.observe(seq, done_frame, done_at)
        pacer.frame(now)
        if pacer.should_stage(now, done_frame, cap):
            pacer.staged(now)
            staged_at = (n, now)
    return pacer.stages


def test_pacer_stages_every_frame_for_a_fast_worker():
    assert _simulate(StagePacer(), 300, busy_s=0.01, cap=0) >= 295


def test_pacer_skips_frames_a_busy_worker_would_not_take():
    stages = _simulate(StagePacer(), 300, busy_s=0.05, cap=0)  # 50 ms per mask at 30 fps
    assert 100 <= stages <= 160, stages  # about every second frame, not every frame


def test_pacer_honours_the_masks_per_second_cap():
    stages = _simulate(StagePacer(), 300, busy_s=0.005, cap=10)  # 10 s of video
    assert 90 <= stages <= 110, stages


def test_pacer_before_the_first_mask_stages_rarely():
    pacer = StagePacer()
    stages = 0
    for n in range(1, 61):  # 2 s, the model still loading: frames are posted, no mask comes back
        now = n / 30
        if pacer.should_stage(now, None, 30):
            pacer.staged(now)
            pacer.posted(n, now + 1 / 30)
            stages += 1
    assert stages <= 2 / IDLE_STAGE_INTERVAL_S + 2, stages
