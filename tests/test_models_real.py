"""Every model family on real images: each adapter must reach the IoU floor measured for its model
(../shared/models/MANIFEST.md) on the 12 evaluation portraits."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from obsmatte.evaluation.scenes import build_scene, load_portraits
from obsmatte.models import RvmMatter, create_matter, load_manifest, shrink_for_model

from conftest import iou

# Floors a little under each model's measured mean IoU (MANIFEST.md), so a broken adapter fails.
FLOORS = {"sinet": 0.78, "mediapipe_selfie_landscape": 0.86, "mediapipe_selfie_general": 0.89,
          "meet_segmentation": 0.88, "rvm_mobilenetv3": 0.93}


def _mean_iou(matter, portraits, passes=1):
    scores = []
    for _, rgb, alpha in portraits:
        if isinstance(matter, RvmMatter):
            matter.reset()
        for _ in range(passes):
            pred = matter.predict(rgb)
        pred = cv2.resize(pred, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        scores.append(iou(pred, alpha))
    return float(np.mean(scores))


@pytest.mark.parametrize("model_id", list(FLOORS))
def test_model_reaches_its_iou_floor(model_id, portraits, shared_models_dir):
    kwargs = {"max_side": 720} if model_id == "rvm_mobilenetv3" else {}
    matter = create_matter(model_id, device="cpu", threads=2, search_dirs=[shared_models_dir], **kwargs)
    passes = 3 if model_id == "rvm_mobilenetv3" else 1
    score = _mean_iou(matter, portraits, passes)
    print(f"{model_id}: mean IoU {score:.3f} (floor {FLOORS[model_id]})")
    assert score >= FLOORS[model_id]


def test_manifest_covers_every_shared_model(shared_models_dir):
    names = {n for s in load_manifest().values() for n in (s.file, *s.alt_files)}
    for f in shared_models_dir.glob("*.onnx"):
        assert f.name in names, f"{f.name} has no manifest entry"


def test_rvm_states_change_and_are_reused(portraits, shared_models_dir):
    matter = create_matter("rvm_mobilenetv3", device="cpu", threads=2, search_dirs=[shared_models_dir],
                           max_side=320)
    rgb = portraits[0][1]
    first = matter.predict(rgb)
    s1 = [s.copy() for s in matter.states]
    assert all(s.shape[1] > 1 for s in s1), "states must be real feature maps after one step"
    feeds = matter.feeds(rgb)  # the next run's inputs are exactly the last outputs
    for name, s in zip(RvmMatter.STATE_NAMES, s1):
        assert np.array_equal(feeds[name], s)
    second = matter.predict(rgb)
    s2 = matter.states
    assert any(not np.allclose(a, b) for a, b in zip(s1, s2)), "states must evolve frame to frame"
    assert matter.steps_since_reset == 2
    # a different resolution resets the states instead of feeding mismatched shapes
    small = cv2.resize(rgb, (160, 120))  # below max_side, so the model input size changes
    matter.predict(small)
    assert matter.steps_since_reset == 1
    assert first.shape == second.shape


# --- the model-input shrink ------------------------------------------------------------------------

def _area(rgb, w, h):
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def test_shrink_halves_by_exact_two_by_two_averages(portraits):
    frame = _area(portraits[1][1], 1280, 720)
    out = shrink_for_model(frame, (360, 640))
    blocks = frame.reshape(360, 2, 640, 2, 3).astype(np.int32).sum(axis=(1, 3))
    assert np.array_equal(out, (blocks + 2) // 4)  # the mean of each 2x2 block, rounded half up


def test_shrink_stays_close_to_area_averaging_on_real_frames(portraits):
    """Full-size portraits (odd and even sides, 1:1 to 16:9) and 720p frames, to both model shapes:
    near INTER_AREA everywhere, and much nearer than plain bilinear."""
    ours, bilinear = [], []
    for _, rgb, _ in portraits:
        for frame in (rgb, _area(rgb, 1280, 720)):
            for h, w in ((144, 256), (256, 256)):
                out = shrink_for_model(frame, (h, w))
                assert out.shape == (h, w, 3) and out.dtype == np.uint8
                exact = _area(frame, w, h).astype(np.float32)
                ours.append(np.abs(out - exact).mean())
                linear = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
                bilinear.append(np.abs(linear - exact).mean())
    print(f"mean |shrink - area| {np.mean(ours):.2f} (worst {max(ours):.2f}), "
          f"bilinear {np.mean(bilinear):.2f}")
    assert max(ours) < 5.0 and np.mean(ours) < 0.5 * np.mean(bilinear)


def test_shrink_averages_pixel_fine_detail_instead_of_aliasing():
    stripes = np.zeros((720, 1280, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: bilinear at 5x shows pure black and white columns
    out = shrink_for_model(stripes, (144, 256))
    assert np.abs(out.astype(np.float32) - 127.5).max() <= 1.0


def test_cheap_shrink_keeps_the_models_iou_on_cluttered_backgrounds(portraits, shared_models_dir):
    """The cafe scene (portraits over cluttered photos) is where aliasing hurts the model: the shrink
    must match exact area averaging there, and plain bilinear must visibly lose, or this proves nothing."""
    matter = create_matter("mediapipe_selfie_landscape", device="cpu", threads=2,
                           search_dirs=[shared_models_dir])
    h, w = matter.spec.input.size
    samples = build_scene("cafe", load_portraits())

    def mean_iou(prepare):  # a frame already at the model's size goes through the adapter unresized
        scores = []
        for s in samples:
            pred = matter.predict(prepare(s.image))
            scores.append(iou(cv2.resize(pred, s.alpha.shape[::-1], interpolation=cv2.INTER_LINEAR), s.alpha))
        return float(np.mean(scores))

    ours = mean_iou(lambda img: img)
    area = mean_iou(lambda img: _area(img, w, h))
    bilinear = mean_iou(lambda img: cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR))
    print(f"cafe IoU: shrink {ours:.4f}, area {area:.4f}, bilinear {bilinear:.4f}")
    assert ours >= area - 0.003
    assert bilinear < area - 0.02


@pytest.mark.parametrize("model_id", ["mediapipe_selfie_landscape", "sinet"])
def test_feeds_are_the_shrunk_frame_normalised_as_the_manifest_says(model_id, portraits, shared_models_dir):
    """The preallocated, fused normalisation gives (pixel - mean) / std * scale in the model's channel
    order and layout, frame after frame (the buffer is reused)."""
    matter = create_matter(model_id, device="cpu", threads=2, search_dirs=[shared_models_dir])
    spec = matter.spec.input
    for _, rgb, _ in portraits[:3]:
        frame = _area(rgb, 1280, 720)
        (name, tensor), = matter.feeds(frame).items()
        img = shrink_for_model(frame, spec.size).astype(np.float64)
        if spec.channels == "BGR":
            img = img[:, :, ::-1]
        want = (img - np.array(spec.mean)) / np.array(spec.std) * spec.scale
        if spec.layout == "NCHW":
            want = want.transpose(2, 0, 1)
        assert name == spec.name and tensor.dtype == np.float32 and tensor.shape == (1, *want.shape)
        np.testing.assert_allclose(tensor[0], want, rtol=1e-6, atol=1e-6)
        prepared, seen = matter.prepare(frame)  # the stream's path: the same tensor, a buffer of its own
        np.testing.assert_array_equal(prepared, tensor)
        assert prepared is not tensor and np.array_equal(seen, shrink_for_model(frame, spec.size))


def test_prepare_leaves_the_adapters_own_state_alone(portraits, shared_models_dir):
    """A stream prepares the next frame on a helper thread while the subject zoom runs predict() on the same
    adapter (its crop): prepare() must not write the adapter's input buffer or its last_model_rgb, or the
    crop's inference reads the next frame's pixels (masks that differed from run to run)."""
    matter = create_matter("mediapipe_selfie_general", device="cpu", threads=2, search_dirs=[shared_models_dir])
    crop, following = portraits[0][1][:400, :400], portraits[1][1]
    want = matter.predict(crop)
    buffer, seen = matter._input.copy(), matter.last_model_rgb
    matter.prepare(following)
    assert matter.last_model_rgb is seen
    np.testing.assert_array_equal(matter._input, buffer)
    np.testing.assert_array_equal(matter.session.run(None, {matter.spec.input.name: matter._input})[0][0, ..., 0],
                                  want)
