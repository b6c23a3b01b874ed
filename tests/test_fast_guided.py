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


def _blocky_mask(truth: np.ndarray) -> np.ndarray:
    """A hard mask at the model's size, like a thresholded model output: the edge is off by up to half a
    mask pixel (2.5 output pixels here) and hair is lost."""
    mh, mw = _mask_size(*truth.shape)
    return (cv2.resize(truth, (mw, mh), interpolation=cv2.INTER_AREA) >= 0.5).astype(np.float32)


def reference_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float):
    """The colour guided filter written out plainly (He et al. 2013, eq. 14): float64, a 3x3
    np.linalg.solve per pixel, the same box windows (replicated borders) as fast_guided."""
    def box(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REPLICATE)
    I, p = guide.astype(np.float64), src.astype(np.float64)
    mean_i, mean_p = box(I), box(p)
    cov_ip = box(I * p[..., None]) - mean_i * mean_p[..., None]
    sigma = np.empty(p.shape + (3, 3))
    for i in range(3):
        for j in range(3):
            sigma[..., i, j] = box(I[..., i] * I[..., j]) - mean_i[..., i] * mean_i[..., j]
    a = np.linalg.solve(sigma + eps * np.eye(3), cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(axis=2)
    return box(a), box(b)


def test_colour_coefficients_match_a_per_pixel_solve(portraits):
    """The closed-form 3x3 inverse in float32 gives the same filter output as a float64 solve."""
    for _, rgb, truth in portraits[:3]:
        mh, mw = _mask_size(*truth.shape)
        g = F.small_guide(rgb, (mh, mw), linear=False)
        mask = _blocky_mask(truth)
        for radius, eps in ((2, F.EPS), (4, 1e-3)):
            a, c = F.coefficients(g, mask, radius, eps)
            ra, rb = reference_coefficients(g, mask, radius, eps)
            got, want = (a * (g - 0.5)).sum(axis=2) + c, (ra * g).sum(axis=2) + rb
            assert np.abs(got - want).max() < 5e-3, (radius, eps)
            assert np.abs(got - want).mean() < 1e-4, (radius, eps)


def test_fast_colour_guided_refines_real_edges_and_matches_the_full_filter(portraits):
    """On the 12 portraits, from a blocky mask at the model's size: closer to the true alpha in the edge
    band than bilinear upsampling, and close to the colour guided filter computed at full size."""
    up_err, fast_err, twin_diff = [], [], []
    for name, rgb, truth in portraits:
        h, w = truth.shape
        mask = _blocky_mask(truth)
        up = upsample_mask(mask, (w, h))
        fast = F.fast_guided_feather(mask, rgb, 8.0)
        a, b = reference_coefficients(F.guide(rgb, False), up, 8, F.EPS)
        full = F.resharpen((a * F.guide(rgb, False)).sum(axis=2) + b, F.EDGE_RAMP)
        band = _edge_band(truth)
        up_err.append(np.abs(up - truth)[band].mean())
        fast_err.append(np.abs(fast - truth)[band].mean())
        twin_diff.append(np.abs(fast - full).mean())
    print(f"edge-band MAE: bilinear {np.mean(up_err):.4f}, fast colour guided {np.mean(fast_err):.4f}; "
          f"mean |fast - full| {np.mean(twin_diff):.4f}")
    assert np.mean(fast_err) < 0.95 * np.mean(up_err)
    assert max(twin_diff) < 0.003


def test_packed_texture_reproduces_the_coefficients(portraits):
    """apply_packed (the shader's formula) equals clip(A . (I - 0.5) + c) up to 16-bit storage, in both guide
    spaces; with the ramp it equals refine.soft_threshold's smoothstep."""
    _, rgb, truth = portraits[0]
    mh, mw = _mask_size(*truth.shape)
    small_rgb = cv2.resize(rgb, (mw, mh), interpolation=cv2.INTER_AREA)
    mask = _blocky_mask(truth)
    for linear in (False, True):
        g = F.small_guide(small_rgb, mask.shape, linear)
        a, c = F.coefficients(g, mask, 2)
        applied = F.full_size_guide(small_rgb, linear) / 255.0  # the guide the shader multiplies
        exact = np.clip((a * (applied - 0.5)).sum(axis=2) + c, 0, 1)
        packed = F.pack(a, c)
        assert packed.dtype == np.uint16 and packed.shape == (mh, mw, 4)
        got = F.apply_packed(F.Refined(packed, 0.0), small_rgb, linear)  # same size: no upsampling
        assert np.abs(got - exact).max() <= 3e-3, linear
        ramped = F.apply_packed(F.Refined(packed, 0.5), small_rgb, linear)
        assert np.abs(ramped - refine.soft_threshold(exact.astype(np.float32), 0.5, 0.5)).max() <= 0.01


def test_full_size_guide_is_the_shaders_two_half_pixel_samples():
    """GUIDE_KERNEL is the mean of two bilinear samples at +-half a pixel on the diagonal (each a 2x2
    block mean), edges clamped: computed here by sampling, as the GPU does."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    padded = np.pad(rgb.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    plus = (padded[1:-1, 1:-1] + padded[1:-1, 2:] + padded[2:, 1:-1] + padded[2:, 2:]) / 4
    minus = (padded[1:-1, 1:-1] + padded[1:-1, :-2] + padded[:-2, 1:-1] + padded[:-2, :-2]) / 4
    assert np.abs(F.full_size_guide(rgb, False) - (plus + minus) / 2).max() < 1e-3


def test_denoised_guide_halves_the_shimmer_of_a_still_edge(portraits):
    """A still portrait with fresh camera noise (sigma 2 levels) on every frame and the mask held: the
    alpha's frame-to-frame change through apply_packed is at most half of what the raw guide gives."""
    _, rgb, truth = portraits[0]
    mh, mw = _mask_size(*truth.shape)
    mask = _blocky_mask(truth)
    refined = F.Refined(F.pack(*F.coefficients(F.small_guide(rgb, (mh, mw), False), mask, 4)), F.EDGE_RAMP)
    coef = cv2.resize(F.unpack(refined.texture), truth.shape[::-1], interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(9)
    ours, raw = [], []
    for _ in range(6):
        noisy = np.clip(np.rint(rgb + rng.normal(0, 2.0, rgb.shape)), 0, 255).astype(np.uint8)
        ours.append(F.apply_packed(refined, noisy))
        q = coef[..., 3] + (coef[..., :3] * (noisy / np.float32(255) - 0.5)).sum(axis=2)
        raw.append(F.resharpen(q.astype(np.float32), F.EDGE_RAMP))
    shimmer = [float(np.abs(np.diff(np.stack(x), axis=0)).mean()) for x in (ours, raw)]
    print(f"still shimmer: denoised guide {shimmer[0]:.5f}, raw guide {shimmer[1]:.5f}")
    assert shimmer[1] > 1e-4  # the noise does reach the raw guide's alpha
    assert shimmer[0] <= 0.5 * shimmer[1]


def test_noise_estimate_follows_added_noise_and_raises_eps(portraits):
    """noise_sigma tracks the noise added to real portraits (texture barely counts), and a noisy guide
    gets a much larger eps than a clean one (which stays within a few times EPS)."""
    rng = np.random.default_rng(3)
    luma_gain = float(np.sqrt(0.299 ** 2 + 0.587 ** 2 + 0.114 ** 2))  # per-channel noise -> grey noise
    for _, rgb, truth in portraits[:4]:
        small = cv2.resize(rgb, _mask_size(*truth.shape)[::-1], interpolation=cv2.INTER_AREA)
        clean = F.guide(small, False)
        assert F.noise_sigma(clean) < 0.004
        assert F.EPS <= F.noise_aware_eps(clean) < 5 * F.EPS
        estimates = []
        for sigma in (0.01, 0.02, 0.04):
            noisy = np.clip(small + rng.normal(0, sigma * 255, small.shape), 0, 255).astype(np.uint8)
            estimates.append(F.noise_sigma(F.guide(noisy, False)))
            assert 0.4 < estimates[-1] / (sigma * luma_gain) < 1.3, (sigma, estimates[-1])
        assert estimates == sorted(estimates)
        assert F.noise_aware_eps(F.guide(noisy, False)) > 10 * F.noise_aware_eps(clean)


def test_flat_background_stays_exactly_transparent():
    """Zero is stored exactly (32768): a background with mask 0 gives alpha exactly 0, not ~1/65535."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (144, 256, 3), dtype=np.uint8)
    mask = np.zeros((144, 256), np.uint8)
    mask[40:100, 100:160] = 255
    refined = F.refine_packed(mask, frame, 0, 8.0, True, (1280, 720), linear=True)
    assert refined.ramp == F.EDGE_RAMP
    full = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
    alpha = F.apply_packed(refined, full, linear=True)
    far = np.ones((720, 1280), bool)
    far[100:600, 400:900] = False
    assert (alpha[far] == 0).all()
    assert alpha[330:390, 600:680].min() > 0.9


def test_blur_feather_and_erode_without_a_guide():
    mask = np.zeros((144, 256), np.uint8)
    mask[40:100, 100:160] = 255
    mask = cv2.GaussianBlur(mask, (0, 0), 1.5)

    def alpha_of(refined):
        assert refined.ramp == 0 and (refined.texture[:, :, :3] == 32768).all()  # no slope: alpha = c
        return F.unpack(refined.texture)[:, :, 3]

    plain = alpha_of(F.refine_packed(mask, None, 0, 0.0, True, (1280, 720), linear=False))
    assert np.abs(plain - mask / 255.0).max() <= 0.51 * F.COEF_RANGE / 32768  # half a storage step
    eroded = alpha_of(F.refine_packed(mask, None, 4, 0.0, False, (1280, 720), linear=False))
    dilated = alpha_of(F.refine_packed(mask, None, -4, 0.0, False, (1280, 720), linear=False))
    assert eroded.sum() < plain.sum() < dilated.sum()
    feathered = alpha_of(F.refine_packed(mask, None, 0, 8.0, False, (1280, 720), linear=False))
    assert feathered.max() <= plain.max() and (feathered > 0.001).sum() > (plain > 0.001).sum()


@pytest.mark.parametrize("softness", [0.6, 2.0])
def test_erode_moves_the_edge_by_its_radius_over_the_whole_range(softness):
    """The first-order step alone (alpha - r |grad alpha|) moves an edge only within its soft band, so the
    slider's larger values did nothing more (erode 10 and 20 gave the same matte). Measured on a disc: the
    radius of its 0.5 contour shrinks / grows by the radius in mask pixels, fractions included."""
    yy, xx = np.mgrid[0:200, 0:200].astype(np.float32)
    distance = np.hypot(yy - 100, xx - 100)
    disc = np.clip(0.5 + (40 - distance) / (2 * softness), 0, 1).astype(np.float32)

    def radius(a):  # of the area above 0.5
        return float(np.sqrt((a > 0.5).sum() / np.pi))

    for r in (0.4, 1.5, 3.0, 4.5, 8.0):
        assert radius(F.erode_small(disc, r)) == pytest.approx(40 - r, abs=0.6), r
        assert radius(F.erode_small(disc, -r)) == pytest.approx(40 + r, abs=0.6), r
    assert F.erode_small(disc, 0) is disc


def test_bad_input_is_a_clear_error():
    with pytest.raises(MattingError):
        F.guide(np.zeros((4, 4), np.float32), False)
    with pytest.raises(MattingError):
        F.coefficients(np.zeros((4, 4, 3), np.float32), np.zeros((5, 4), np.float32), 1)
    with pytest.raises(MattingError):
        F.coefficients(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), 1)  # a grey guide
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


def test_knob_sizes_scale_with_the_frame():
    """Erode/feather are pixels of a 720p frame: the same preset shrinks the edge by the same FRACTION
    of the frame at 640 and at 1280 pixels wide (a fixed pixel radius would do half as much at 1280)."""
    yy, xx = np.mgrid[0:72, 0:128]
    mask = (np.hypot(yy - 36, xx - 64) < 25).astype(np.uint8) * 255  # a disc, 256x144-style mask
    cover = {}
    for w, h in ((640, 360), (1280, 720)):
        a = F.unpack(F.refine_packed(mask, None, 16, 0.0, False, (w, h), linear=False).texture)[:, :, 3]
        cover[w] = float(a.sum())
    plain = float(mask.sum()) / 255.0
    assert cover[640] < plain * 0.97  # the erosion did something measurable
    assert abs(cover[640] - cover[1280]) < 0.01 * plain
    assert F.output_px(16, (640, 360)) == 8 and F.output_px(16, (720, 1280)) == 16


# --- temporal guide filter (steady edges' temporal half) ------------------------------------------

def test_temporal_weight_is_the_gate_of_the_shader():
    """1 - keep where still, 1 where moved, the smoothstep's midpoint halfway."""
    d = np.array([0.0, F.MOTION_LO, (F.MOTION_LO + F.MOTION_HI) / 2, F.MOTION_HI, 50.0], np.float32)
    w = F.temporal_weight(d)
    k = F.TEMPORAL_KEEP
    assert np.allclose(w, [1 - k, 1 - k, 1 - k / 2, 1.0, 1.0], atol=1e-6)


def test_temporal_guide_shrinks_still_noise_by_the_recursive_filters_factor():
    """A still picture with fresh noise below the motion gate: G's noise is sqrt(w / (2 - w)) of the
    frame's (w = 1 - keep, the steady state of G_t = G_{t-1} + w (I_t - G_{t-1})), and its
    frame-to-frame change sqrt(2 w^2 / (2 - w)) / sqrt(2) = w sqrt(1 / (2 - w)) of the frame's."""
    rng = np.random.default_rng(4)
    base = rng.uniform(30, 220, (64, 80, 3)).astype(np.float32)
    tg = F.TemporalGuide()
    sigma = 0.4  # max over channels of |I - G| stays below MOTION_LO: the gate stays shut
    outs, ins = [], []
    for t in range(150):
        frame = base + rng.normal(0, sigma, base.shape).astype(np.float32)
        g = tg.update(frame).copy()
        if t >= 50:
            outs.append(g)
            ins.append(frame)
    w = 1 - F.TEMPORAL_KEEP
    ratio = float(np.std(np.stack(outs) - base) / np.std(np.stack(ins) - base))
    expected = np.sqrt(w / (2 - w))
    step_ratio = float(np.abs(np.diff(np.stack(outs), axis=0)).mean() / np.abs(np.diff(np.stack(ins), axis=0)).mean())
    print(f"noise x{ratio:.3f} (expected {expected:.3f}), frame-to-frame change x{step_ratio:.3f}")
    assert abs(ratio - expected) < 0.1 * expected
    assert abs(step_ratio - w * np.sqrt(1 / (2 - w))) < 0.15 * w * np.sqrt(1 / (2 - w))


def test_temporal_guide_lets_a_change_through_at_once_and_resets():
    """A step well above the gate passes in one frame where it happens, and nowhere else; the first frame,
    reset() and a size change all give the frame itself."""
    base = np.full((20, 30, 3), 100.0, np.float32)
    tg = F.TemporalGuide()
    first = tg.update(base + 1.0)
    assert np.array_equal(first, base + 1.0)  # G = I on the first frame
    for _ in range(60):  # 0.9^61 of the first frame's offset is left
        tg.update(base)
    settled = tg.update(base).copy()
    assert np.abs(settled - base).max() < 0.01
    moved = base.copy()
    moved[:, :15] += 20.0  # 20 levels in one channel only counts too: the gate takes the max
    moved[:, :15, 1:] -= 20.0
    g = tg.update(moved)
    assert np.allclose(g[:, :15], moved[:, :15], atol=1e-4)
    assert np.allclose(g[:, 15:], base[:, 15:], atol=0.01)
    small = np.full((10, 12, 3), 50.0, np.float32)
    assert np.array_equal(tg.update(small), small)  # size change: starts over
    tg.update(small + 1.0)
    tg.reset()
    assert np.array_equal(tg.update(small + 30.0), small + 30.0)


def test_temporal_guide_cuts_the_still_edge_shimmer_through_apply_packed(portraits):
    """The still portrait with fresh noise and the mask held (test_denoised_guide_halves_...): with the
    temporal filter on top of the denoised guide, the alpha's frame-to-frame change falls to a third or
    less; the first frame's alpha is the non-temporal one exactly."""
    _, rgb, truth = portraits[0]
    mh, mw = _mask_size(*truth.shape)
    refined = F.Refined(F.pack(*F.coefficients(F.small_guide(rgb, (mh, mw), False), _blocky_mask(truth), 4)),
                        F.EDGE_RAMP)
    rng = np.random.default_rng(9)
    tg = F.TemporalGuide()
    spatial, both = [], []
    for t in range(12):
        noisy = np.clip(np.rint(rgb + rng.normal(0, 2.0, rgb.shape)), 0, 255).astype(np.uint8)
        spatial.append(F.apply_packed(refined, noisy))
        both.append(F.apply_packed(refined, noisy, guide_full=tg.update(F.full_size_guide(noisy, False))))
        if t == 0:
            assert np.array_equal(both[0], spatial[0])
    shimmer = [float(np.abs(np.diff(np.stack(x[4:]), axis=0)).mean()) for x in (spatial, both)]
    print(f"still shimmer: denoised guide {shimmer[0]:.6f}, + temporal {shimmer[1]:.6f}")
    assert shimmer[1] <= shimmer[0] / 3


def test_bad_temporal_guide_input_is_a_clear_error():
    with pytest.raises(MattingError):
        F.TemporalGuide(keep=1.0)
    with pytest.raises(MattingError):
        F.TemporalGuide().update(np.zeros((4, 4), np.float32))


def test_motion_gate_follows_the_guide_noise(portraits):
    """The gate is GATE_SIGMAS x the denoised guide's noise (2-4 levels for a webcam's 2), floored for a
    clean source; guide_noise reads about the same from the frame and from a bilinear half-size copy."""
    assert F.motion_gate(None) == (F.MOTION_LO, F.MOTION_HI)
    assert F.motion_gate(0.0) == (F.GATE_MIN, 2 * F.GATE_MIN)
    assert F.motion_gate(1e3) == (F.GATE_MAX, 2 * F.GATE_MAX)
    _, rgb, _ = portraits[0]
    rng = np.random.default_rng(6)
    noisy = np.clip(np.rint(rgb + rng.normal(0, 2.0, rgb.shape)), 0, 255).astype(np.uint8)
    true_sigma = float(np.std(F.full_size_guide(noisy, False) - F.full_size_guide(rgb, False)))
    full = F.guide_noise(noisy, rgb.shape[1])
    h, w = rgb.shape[:2]
    copy = F.guide_noise(cv2.resize(noisy, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR), w)
    print(f"denoised guide noise {true_sigma:.2f} levels; estimated {full:.2f} (frame), {copy:.2f} (half-size copy)")
    for est in (full, copy):
        assert 0.6 * true_sigma < est < 1.6 * true_sigma
    assert F.guide_noise(rgb, w) < 0.5 * full  # the clean portrait: texture alone reads low
    lo, hi = F.motion_gate(full)
    assert 1.2 < lo < 3.5 and hi == 2 * lo
