"""Mask refinement (obsmatte.refine): unit checks on small synthetic masks, then checks on the real
evaluation portraits (edges, islands) and one on a real model (low-light conditioning)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from obsmatte import refine
from obsmatte.errors import MattingError

from conftest import iou


def _disc(h, w, cy, cx, r) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.float32)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


# --- soft_threshold --------------------------------------------------------------------------------

def test_soft_threshold_is_a_monotonic_ramp_with_exact_endpoints():
    prob = np.linspace(0, 1, 1001, dtype=np.float32)[None, :]
    alpha = refine.soft_threshold(prob, 0.5, 0.2)
    assert alpha.dtype == np.float32 and alpha.shape == prob.shape
    assert np.all(np.diff(alpha[0]) >= 0)
    assert np.all(alpha[prob <= 0.4] == 0) and np.all(alpha[prob >= 0.6] == 1)
    inside = (prob > 0.41) & (prob < 0.59)
    assert np.all((alpha[inside] > 0) & (alpha[inside] < 1)), "the ramp must be soft between its ends"
    assert refine.soft_threshold(np.full((1, 1), 0.5, np.float32), 0.5, 0.2)[0, 0] == pytest.approx(0.5)
    # smoothstep: flat at both ends, steepest in the middle
    assert refine.soft_threshold(np.float32([[0.41]]), 0.5, 0.2)[0, 0] < 0.05


def test_soft_threshold_zero_softness_is_a_hard_cut_at_the_threshold():
    prob = np.float32([[0.0, 0.299, 0.3, 0.301, 1.0]])
    assert refine.soft_threshold(prob, 0.3, 0.0).tolist() == [[0, 0, 1, 1, 1]]


def test_soft_threshold_keeps_sure_background_clear_and_sure_person_opaque_near_the_range_ends():
    """A ramp reaching past 0 or 1 is cut there: before, threshold 0.1 / softness 0.3 left alpha 0.074 on a
    confidence of 0 (the whole room showing through) and 0.9 / 0.4 alpha 0.844 on a confidence of 1."""
    prob = np.linspace(0, 1, 101, dtype=np.float32)[None, :]
    for threshold, softness in ((0.1, 0.3), (0.1, 0.6), (0.05, 0.5), (0.9, 0.4), (0.95, 1.0)):
        alpha = refine.soft_threshold(prob, threshold, softness)
        assert np.all(np.diff(alpha[0]) >= 0)
        assert alpha[0, 0] == 0.0 and alpha[0, -1] == 1.0, (threshold, softness)
    # still a ramp, over what is left of it: 0 .. 0.25 for 0.1 / 0.3
    assert 0.3 < refine.soft_threshold(np.float32([[0.125]]), 0.1, 0.3)[0, 0] < 0.7
    # a ramp that lies wholly inside 0..1 (every shipped preset's) is unchanged
    assert refine.soft_threshold(np.float32([[0.41]]), 0.5, 0.2)[0, 0] < 0.05


def test_bad_mask_gives_a_clear_error():
    with pytest.raises(MattingError, match="2-D"):
        refine.soft_threshold(np.zeros((4, 4, 3), np.float32), 0.5, 0.1)


# --- remove_small_islands --------------------------------------------------------------------------

def _two_people_and_specks():
    h, w = 144, 256
    people = np.maximum(_disc(h, w, 72, 60, 30), _disc(h, w, 72, 196, 22))  # ~6% and ~3.3% of the frame
    soft_people = cv2.GaussianBlur(people, (0, 0), 1.5)
    specks = np.zeros((h, w), np.float32)
    specks[10:13, 120:123] = 1.0  # 9 px
    specks[130:136, 120:126] = 1.0  # 36 px
    soft_specks = cv2.GaussianBlur(specks, (0, 0), 1.0)
    return soft_people, np.maximum(soft_people, soft_specks), soft_specks


def test_islands_keeps_every_person_and_removes_specks_with_their_fringe():
    people, alpha, specks = _two_people_and_specks()
    out = refine.remove_small_islands(alpha, 0.01)
    speck_zone = specks > 0  # the whole soft fringe of the blurred specks
    # nothing left that would show in 8 bits (the blur's far tail, < 1e-4, may stay)
    assert out[speck_zone].max() < 0.5 / 255, "specks and their soft fringe must go"
    far_from_specks = ~speck_zone
    assert np.array_equal(out[far_from_specks], alpha[far_from_specks]), "both people stay untouched"
    # never "largest blob only": the smaller person (3.3%) is still there
    assert out[72, 196] == pytest.approx(1.0)


def test_islands_off_and_all_kept_return_the_mask_unchanged():
    people, alpha, _ = _two_people_and_specks()
    assert refine.remove_small_islands(alpha, 0.0) is alpha
    assert np.array_equal(refine.remove_small_islands(people, 0.01), people)
    # with a limit above the smaller person, it goes too (both people are separate components)
    out = refine.remove_small_islands(people, 0.05)
    assert out[72, 196] == 0 and out[72, 60] == pytest.approx(1.0)


def test_islands_speck_touching_a_persons_fringe_does_not_eat_the_person():
    h, w = 144, 256
    person = cv2.GaussianBlur(_disc(h, w, 72, 100, 40), (0, 0), 1.5)
    speck = np.zeros((h, w), np.float32)
    speck[70:72, 143:145] = 1.0  # 3 px outside the person's edge
    alpha = np.maximum(person, speck)
    out = refine.remove_small_islands(alpha, 0.01)
    solid_person = person >= 0.5
    assert np.array_equal(out[solid_person], alpha[solid_person])
    assert np.all(out[70:72, 143:145] == 0), "the speck itself still goes"


def test_islands_on_a_real_portrait_remove_added_specks_only(portraits):
    _, rgb, truth = portraits[0]
    small = cv2.resize(truth, (256, 256 * truth.shape[0] // truth.shape[1]), interpolation=cv2.INTER_AREA)
    noisy = small.copy()
    rng = np.random.default_rng(3)
    background = np.argwhere(cv2.dilate((small > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0)
    for y, x in background[rng.choice(len(background), 25, replace=False)]:
        noisy[y:y + 2, x:x + 2] = 0.9
    out = refine.remove_small_islands(noisy, 0.01)
    assert ((out >= 0.5) & (small < 0.5)).sum() == 0, "every added speck must be removed"
    assert iou(out, small) > 0.999


def _solid_areas(alpha: np.ndarray) -> np.ndarray:
    count, labels = cv2.connectedComponents((alpha >= 0.5).astype(np.uint8), connectivity=8)
    return np.bincount(labels.ravel(), minlength=count)[1:] / alpha.size


def test_pipeline_removes_a_real_models_specks_only_when_asked(shared_models_dir):
    """Islands are off by default; set, the pipeline drops the specks the real model leaves around three
    people and keeps every person."""
    from obsmatte.evaluation.scenes import build_scene, load_portraits
    from obsmatte.pipeline import MaskPipeline
    from obsmatte.settings import MatteSettings
    trio = next(s for s in build_scene("multi_person", load_portraits()) if len(s.persons) == 3
                and min((p >= 0.5).mean() for p in s.persons) > 0.05)
    settings = MatteSettings().replace(temporal_smoothing=0.0)
    assert settings.min_person_area == 0
    default = MaskPipeline(settings, search_dirs=[shared_models_dir]).process(trio.image)
    cleaned = MaskPipeline(settings.replace(min_person_area=0.01),
                           search_dirs=[shared_models_dir]).process(trio.image)
    specks = _solid_areas(default) < 0.01
    assert specks.any(), "the model leaves specks on this frame (else this test proves nothing)"
    areas = _solid_areas(cleaned)
    assert (areas >= 0.01).all(), "every blob under 1% of the frame is gone"
    people = _solid_areas(default)[~specks]
    assert np.array_equal(np.sort(areas), np.sort(people)), "the people are kept whole"
    assert len(areas) == 3


# --- temporal smoothing ----------------------------------------------------------------------------

def test_temporal_smoothing_reduces_flicker_on_a_static_scene():
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(_disc(72, 128, 36, 64, 20), (0, 0), 2)
    frames = [np.clip(base + rng.normal(0, 0.08, base.shape).astype(np.float32), 0, 1) for _ in range(40)]
    smoother = refine.TemporalSmoother(0.5)
    out = np.stack([smoother.update(f) for f in frames])[10:]
    raw = np.stack(frames)[10:]
    flicker_in = np.abs(np.diff(raw, axis=0)).mean()
    flicker_out = np.abs(np.diff(out, axis=0)).mean()
    assert flicker_out < 0.6 * flicker_in, (flicker_in, flicker_out)
    assert np.abs(out.mean(axis=0) - raw.mean(axis=0)).mean() < 0.01, "smoothing must not bias the mask"


def test_temporal_smoothing_follows_a_moved_person_within_two_frames():
    before = _disc(72, 128, 36, 40, 15)
    after = _disc(72, 128, 36, 70, 15)
    smoother = refine.TemporalSmoother(0.9)
    for _ in range(10):
        smoother.update(before)
    first = smoother.update(after)
    second = smoother.update(after)
    assert iou(second, after) > 0.97
    assert iou(first, after) > 0.9


def test_temporal_smoothing_strength_zero_is_passthrough_and_reset_on_new_size():
    smoother = refine.TemporalSmoother(0.0)
    a, b = np.zeros((8, 8), np.float32), np.full((8, 8), 0.2, np.float32)
    smoother.update(a)
    assert np.array_equal(smoother.update(b), b)
    smoother.set_strength(0.8)
    smoother.update(a)
    blended = smoother.update(b)
    assert 0 < blended[0, 0] < 0.2
    bigger = np.full((16, 16), 0.7, np.float32)
    assert np.array_equal(smoother.update(bigger), bigger), "a new mask size starts afresh"
    smoother.reset()
    assert np.array_equal(smoother.update(a), a)


MASK_HW = (144, 256)  # MediaPipe landscape's mask: the size the smoother works at
FRAME_HW = (180, 320)  # the OBS worker's input


def _person_scene(portrait, shift_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame 320x180 uint8, truth at the mask's size): a real portrait over a grey backdrop, moved
    right by shift_px frame pixels."""
    _, rgb, alpha = portrait
    h, w = FRAME_HW
    s = h / rgb.shape[0]
    size = (max(1, round(rgb.shape[1] * s)), h)
    fg = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    frame_a = np.zeros((h, w), np.float32)
    frame_fg = np.zeros((h, w, 3), np.float32)
    x = (w - size[0]) // 2 + shift_px
    x0, x1 = max(0, x), min(w, x + size[0])
    frame_a[:, x0:x1] = a[:, x0 - x:x1 - x]
    frame_fg[:, x0:x1] = fg[:, x0 - x:x1 - x]
    frame = frame_a[..., None] * frame_fg + (1 - frame_a[..., None]) * np.float32(128)
    truth = cv2.resize(frame_a, (MASK_HW[1], MASK_HW[0]), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8), truth


def _noisy(frame: np.ndarray, rng, sigma: float = 2.0) -> np.ndarray:
    """A webcam's fresh sensor noise on every frame."""
    return np.clip(np.rint(frame + rng.normal(0, sigma, frame.shape)), 0, 255).astype(np.uint8)


def _flickering_confidence(truth: np.ndarray, rng) -> np.ndarray:
    """What a segmentation model gives on a still frame: the right answer plus per-frame noise, with
    some edge pixels jumping across the threshold by more than 0.5 (the old rule let those through)."""
    prob = np.clip(truth + rng.normal(0, 0.05, truth.shape), 0, 1)
    edge = (truth > 0.05) & (truth < 0.95) | (cv2.dilate(truth, np.ones((5, 5))) - cv2.erode(truth, np.ones((5, 5))) > 0.5)
    jumps = edge & (rng.random(truth.shape) < 0.3)
    prob[jumps] = 1.0 - np.round(truth[jumps])
    return prob.astype(np.float32)


def _mean_flicker(stack: list[np.ndarray]) -> float:
    return float(np.abs(np.diff(np.stack(stack), axis=0)).mean())


def _gate(frame, previous_frame):
    """The smoother's motion gate between two frames, at the mask's size (it works at gate_shape)."""
    small = refine.gate_shape(MASK_HW)
    return refine.frame_change_gate(refine.grey_at(frame, small), refine.grey_at(previous_frame, small), MASK_HW)


def test_frame_change_gate_is_closed_on_sensor_noise_and_open_where_the_person_moved(portraits):
    from obsmatte.evaluation.scenes import darken
    rng = np.random.default_rng(1)
    still, truth = _person_scene(portraits[2], 0)
    moved, truth_moved = _person_scene(portraits[2], 24)
    for label, a, b in (("webcam noise", _noisy(still, rng), _noisy(still, rng)),
                        ("dark room", darken(still, 1), darken(still, 2))):
        gate = _gate(a, b)
        assert gate.shape == MASK_HW and gate.dtype == np.float32
        assert gate.mean() < 0.01, f"{label}: the gate must stay closed on a still picture ({gate.mean():.3f})"
    changed = np.abs(truth_moved - truth) > 0.5
    gate = _gate(_noisy(moved, rng), _noisy(still, rng))
    assert (gate[changed] >= 0.99).mean() > 0.95, "where the person moved, the gate must open fully"


def test_frame_gated_smoothing_holds_a_still_picture_against_confidence_flicker(portraits):
    rng = np.random.default_rng(2)
    frame, truth = _person_scene(portraits[0], 0)
    gated, rule_without_frame = refine.TemporalSmoother(0.9), refine.TemporalSmoother(0.9)
    raw, out_gated, out_old = [], [], []
    for _ in range(40):
        prob = _flickering_confidence(truth, rng)
        raw.append(prob)
        out_gated.append(gated.update(prob, _noisy(frame, rng)))
        out_old.append(rule_without_frame.update(prob))
    flicker_raw, flicker_gated, flicker_old = (_mean_flicker(x[10:]) for x in (raw, out_gated, out_old))
    assert flicker_gated < 0.25 * flicker_raw, (flicker_raw, flicker_gated)
    assert flicker_gated < 0.5 * flicker_old, "the frame must tell noise from motion better than the mask"
    bias = np.abs(np.mean(out_gated[10:], axis=0) - np.mean(raw[10:], axis=0)).mean()
    assert bias < 0.01, f"holding must not bias the mask ({bias:.3f})"


def _settled_then_moved(portrait, rng, camera):
    """A TemporalSmoother(0.95) that watched the person stand still for 10 frames, seen through
    camera(frame, i), with a flickering confidence; and (frame, truth) after the person moved 40 px."""
    smoother = refine.TemporalSmoother(0.95)
    before, truth_before = _person_scene(portrait, -20)
    for i in range(10):
        smoother.update(_flickering_confidence(truth_before, rng), camera(before, i))
    after, truth_after = _person_scene(portrait, 20)
    return smoother, after, truth_after


def test_frame_gated_smoothing_follows_a_moving_person_in_the_first_frame(portraits):
    rng = np.random.default_rng(3)
    smoother, after, truth_after = _settled_then_moved(portraits[1], rng, lambda f, _: _noisy(f, rng))
    first = smoother.update(truth_after, _noisy(after, rng))
    assert iou(first, truth_after) > 0.97, "a person who moved must be followed at once, not smeared"


def test_frame_gated_smoothing_catches_up_within_a_few_frames_where_the_dark_frame_hides_the_move(portraits):
    """In a dark, noisy room parts of this person are as bright as the backdrop, so the frame gate
    opens only partly; the model's answer, kept for two frames, must still be followed."""
    from obsmatte.evaluation.scenes import darken

    def dark_room(frame, seed):  # what the low-light preset's pipeline gives the smoother
        return refine.condition_low_light(darken(frame, seed), 0.5)
    smoother, after, truth_after = _settled_then_moved(portraits[1], np.random.default_rng(3), dark_room)
    ious = [iou(smoother.update(truth_after, dark_room(after, 10 + i)), truth_after) for i in range(5)]
    assert ious[0] > 0.8, ious
    # 5 frames (1/6 s at 30 fps): the exposure-gain conditioning lifts the room's noise with the picture,
    # so the frame gate opens less here than it did with the old gamma lift (4 frames)
    assert ious[4] > 0.97, f"the person must be caught up within 5 frames, not held ({ious})"


def _whole_portrait(portrait):
    """A portrait over its own background, squeezed into a 16:9 frame twice the mask's size, and its truth."""
    _, rgb, alpha = portrait
    frame = cv2.resize(rgb, (2 * MASK_HW[1], 2 * MASK_HW[0]), interpolation=cv2.INTER_AREA)
    return frame, cv2.resize(alpha, (MASK_HW[1], MASK_HW[0]), interpolation=cv2.INTER_AREA)


def test_a_cut_to_another_picture_is_followed_at_once_not_held(portraits):
    """A cut (another camera in the source, a jump in a video) changes the picture everywhere; the gate used
    to take that change for the frame's noise and hold the old mask: on these pairs 4-38% of the pixels were
    still the old picture's on the first frame after the cut (tools/cut_check.py)."""
    rng = np.random.default_rng(5)
    for a, b in ((0, 1), (2, 3), (4, 5)):
        (frame_a, truth_a), (frame_b, truth_b) = _whole_portrait(portraits[a]), _whole_portrait(portraits[b])
        smoother = refine.TemporalSmoother(0.95)
        for _ in range(10):
            smoother.update(_flickering_confidence(truth_a, rng), _noisy(frame_a, rng))
        first = smoother.update(truth_b, _noisy(frame_b, rng))
        assert np.abs(first - truth_b).max() < 1e-6, f"portraits {a} -> {b}: the old mask lingers after a cut"


def test_the_low_light_denoiser_forgets_the_old_picture_at_a_cut(portraits):
    (frame_a, _), (frame_b, _) = _whole_portrait(portraits[6]), _whole_portrait(portraits[7])
    denoiser = refine.InputDenoiser(0.75, max_side=1024)  # the frames' own size: no shrink to compare through
    for _ in range(10):
        denoiser.update(frame_a)
    assert np.array_equal(denoiser.update(frame_b), frame_b), "the model must see the new picture, not a blend"


def test_a_cut_is_told_from_noise_a_dark_room_an_exposure_step_and_a_small_move(portraits):
    from obsmatte.evaluation.scenes import darken
    rng = np.random.default_rng(6)
    shape = refine.gate_shape(MASK_HW)

    def cut(a, b):
        return refine.picture_cut(refine.grey_at(b, shape), refine.grey_at(a, shape))
    frame, _ = _whole_portrait(portraits[2])
    other, _ = _whole_portrait(portraits[8])
    person, _ = _person_scene(portraits[2], 0)
    moved, _ = _person_scene(portraits[2], 24)
    assert cut(_noisy(frame, rng), _noisy(other, rng))
    assert cut(darken(frame, 1), darken(other, 2)), "a cut in a dark room is still a cut"
    assert not cut(_noisy(frame, rng), _noisy(frame, rng))
    assert not cut(darken(frame, 1), darken(frame, 2)), "a dark room's grain is not a cut"
    assert not cut(frame, cv2.convertScaleAbs(frame, alpha=1.05)), "a camera's exposure step is not a cut"
    assert not cut(_noisy(person, rng), _noisy(moved, rng)), "a person moving across the frame is not a cut"


def test_frame_gated_smoothing_starts_afresh_on_a_new_size_and_after_reset(portraits):
    rng = np.random.default_rng(4)
    frame, truth = _person_scene(portraits[0], 0)
    smoother = refine.TemporalSmoother(0.9)
    smoother.update(truth, frame)
    held = smoother.update(np.zeros_like(truth), _noisy(frame, rng))
    assert held.mean() > 0.8 * truth.mean(), "a still picture holds the previous mask"
    bigger = np.full((288, 512), 0.3, np.float32)
    assert np.array_equal(smoother.update(bigger, cv2.resize(frame, (640, 360))), bigger)
    smoother.reset()
    zeros = np.zeros_like(truth)
    assert np.array_equal(smoother.update(zeros, frame), zeros)
    smoother.set_strength(0.0)
    assert np.array_equal(smoother.update(truth, frame), truth), "strength 0 is a passthrough"


# --- erode / dilate --------------------------------------------------------------------------------

def test_erode_shrinks_and_dilate_grows_by_the_radius():
    disc = _disc(101, 101, 50, 50, 30)
    eroded, dilated = refine.erode_dilate(disc, 3), refine.erode_dilate(disc, -3)
    radius = lambda m: np.sqrt(m.sum() / np.pi)
    assert radius(eroded) == pytest.approx(27, abs=0.6)
    assert radius(dilated) == pytest.approx(33, abs=0.6)
    assert np.all(eroded <= disc) and np.all(dilated >= disc)
    assert refine.erode_dilate(disc, 0) is disc


# --- guided filter / feather -----------------------------------------------------------------------

def _step_scene():
    """A diagonal edge in a noisy image, its true mask, and a blocky low-res mask of it (8x upsampled)."""
    h, w = 240, 320
    yy, xx = np.mgrid[:h, :w]
    truth = (xx < 150 + 0.4 * (yy - h / 2)).astype(np.float32)
    rng = np.random.default_rng(5)
    image = np.clip(0.25 + 0.5 * truth + rng.normal(0, 0.01, truth.shape), 0, 1).astype(np.float32)
    low = cv2.resize(truth, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize((low >= 0.5).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    return image, truth, blocky


def test_guided_filter_snaps_a_blocky_mask_to_the_image_edge_better_than_blur():
    image, truth, blocky = _step_scene()
    guided = np.clip(refine.guided_filter(image, blocky, 6, 1e-3), 0, 1)
    blurred = cv2.GaussianBlur(blocky, (0, 0), 3)
    err_guided, err_blur, err_blocky = (np.abs(m - truth).mean() for m in (guided, blurred, blocky))
    assert err_guided < 0.7 * err_blur, (err_guided, err_blur)
    # it smooths the staircase without moving the edge away from the image edge
    assert err_guided < 1.2 * err_blocky, (err_guided, err_blocky)


def test_guided_filter_accepts_a_colour_guide_and_keeps_flat_masks_flat():
    image, _, blocky = _step_scene()
    colour = np.dstack([image] * 3)
    assert np.allclose(refine.guided_filter(colour, blocky, 4, 1e-3),
                       refine.guided_filter(image, blocky, 4, 1e-3), atol=1e-4)
    flat = np.full_like(blocky, 0.3)
    assert np.allclose(refine.guided_filter(image, flat, 4, 1e-3), 0.3, atol=1e-4)
    with pytest.raises(MattingError, match="does not match"):
        refine.guided_filter(image[:10], blocky, 4, 1e-3)


def test_feather_modes():
    image, truth, blocky = _step_scene()
    rgb = (np.dstack([image] * 3) * 255).astype(np.uint8)
    assert refine.feather(blocky, 0, "guided", rgb) is blocky
    blur = refine.feather(blocky, 4, "blur")
    assert np.allclose(blur, cv2.GaussianBlur(blocky, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE))
    assert np.array_equal(refine.feather(blocky, 4, "guided", None), blur), "no frame: falls back to blur"
    guided = refine.feather(blocky, 4, "guided", rgb)
    assert guided.min() >= 0 and guided.max() <= 1
    assert np.abs(guided - truth).mean() < np.abs(blur - truth).mean()
    with pytest.raises(MattingError, match="feather mode"):
        refine.feather(blocky, 4, "sharpen")


def test_guided_feather_beats_blur_on_the_real_portraits_edges(portraits):
    """A 256-px blocky mask of each portrait's alpha, upsampled to 1280 px: in the band around the true
    edge, the guided feather must land closer to the true alpha than a blur of the same width."""
    from obsmatte.evaluation.scenes import blocky_edge_case
    err_guided, err_blur = [], []
    for _, rgb, truth in portraits:
        frame, alpha, up, band = blocky_edge_case(rgb, truth)
        err_guided.append(np.abs(refine.feather(up, 4, "guided", frame) - alpha)[band].mean())
        err_blur.append(np.abs(refine.feather(up, 4, "blur") - alpha)[band].mean())
    print(f"edge-band error, feather 4 px: guided {np.mean(err_guided):.4f}, blur {np.mean(err_blur):.4f}")
    assert np.mean(err_guided) < 0.95 * np.mean(err_blur)
    assert sum(g < b for g, b in zip(err_guided, err_blur)) >= 9


# --- low-light conditioning ------------------------------------------------------------------------

def test_low_light_strength_zero_returns_the_input():
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert refine.condition_low_light(rgb, 0.0) is rgb


def _linear_mean(rgb: np.ndarray) -> float:
    return float(((_luma(rgb) / 255.0) ** 2.2).mean())


def test_low_light_raises_the_exposure_of_dark_frames_and_leaves_well_exposed_ones(portraits):
    """An exposure gain in linear light: strength 1 brings the frame's linear-light mean to the target
    (a uniform frame at encoded luma 0.2), strength 0.5 applies half of that gain in stops; a frame
    already brighter than the target is returned as it is."""
    well_exposed = [rgb for _, rgb, _ in portraits if _luma(rgb).mean() >= 0.5 * 255]
    assert len(well_exposed) >= 2, "the evaluation set should hold well-exposed portraits"
    target = 0.2 ** 2.2
    for rgb in well_exposed:
        frame = cv2.resize(rgb, (640, 360), interpolation=cv2.INTER_AREA)
        assert refine.condition_low_light(frame, 1.0) is frame
        dark = (frame * 0.15).astype(np.uint8)
        full_gain = target / _linear_mean(dark)
        assert 2 < full_gain < 16, "the test frame should need a lift the cap does not limit"
        lifted = refine.condition_low_light(dark, 1.0)
        assert lifted.shape == dark.shape and lifted.dtype == np.uint8
        assert abs(_linear_mean(lifted) / target - 1) < 0.15
        half = refine.condition_low_light(dark, 0.5)
        assert abs(_linear_mean(half) / (_linear_mean(dark) * full_gain ** 0.5) - 1) < 0.15


def test_low_light_does_not_amplify_noise_absurdly():
    rng = np.random.default_rng(2)
    flat_dark = np.clip(20 + rng.normal(0, 2, (144, 256, 3)), 0, 255).astype(np.uint8)
    out = refine.condition_low_light(flat_dark, 1.0)
    noise_in, noise_out = _luma(flat_dark).std(), _luma(out).std()
    equalised = cv2.equalizeHist(cv2.cvtColor(flat_dark, cv2.COLOR_RGB2GRAY)).astype(np.float32).std()
    assert noise_out < 8 * noise_in, (noise_in, noise_out)
    assert noise_out < 0.2 * equalised, "far below a plain histogram equalisation"


def test_low_light_boost_helps_a_real_model_on_darkened_portraits(portraits, shared_models_dir):
    """Darken the portraits (gamma, exposure, sensor noise) and segment them with a real model: the
    boosted input must segment better than the dark one."""
    from obsmatte.models import create_matter
    matter = create_matter("meet_segmentation", device="cpu", threads=1, search_dirs=[shared_models_dir])
    rng = np.random.default_rng(1)
    dark_scores, boosted_scores = [], []
    for _, rgb, truth in portraits:
        h, w = truth.shape
        scale = 640 / max(h, w)
        size = (round(w * scale), round(h * scale))
        frame = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        alpha = cv2.resize(truth, size, interpolation=cv2.INTER_AREA)
        dark = np.clip(255 * 0.25 * frame ** 1.6 + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)
        for img, scores in ((dark, dark_scores), (refine.condition_low_light(dark, 0.5), boosted_scores)):
            pred = cv2.resize(matter.predict(img), size, interpolation=cv2.INTER_LINEAR)
            scores.append(iou(pred, alpha))
    print(f"meet_segmentation on darkened portraits: IoU {np.mean(dark_scores):.3f} -> "
          f"{np.mean(boosted_scores):.3f} with boost 0.5")
    assert np.mean(boosted_scores) > np.mean(dark_scores) + 0.01


def test_nearest_rank_matches_a_full_sort_with_and_without_runs_of_zeros():
    rng = np.random.default_rng(8)
    for zeros in (0.0, 0.2, 0.6, 1.0):
        v = rng.random(9000).astype(np.float32)
        v[rng.random(9000) < zeros] = 0.0
        for pct in (0, 25, 50, 99):
            rank = int(v.size * pct / 100)
            assert refine._nearest_rank(v, pct) == float(np.sort(v)[rank]), (zeros, pct)
