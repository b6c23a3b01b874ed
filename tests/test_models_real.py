"""Every model family on real images: each adapter must reach the IoU floor measured for its model
(../shared/models/MANIFEST.md) on the 12 evaluation portraits."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from obsmatte.models import RvmMatter, create_matter, load_manifest

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
