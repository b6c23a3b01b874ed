"""The mirror pass (settings.mirror_pass): the model(s) run on the frame and on its mirror image, the
mirrored confidence flipped back and averaged, through the same pipeline the filter and the command line
run. Real models."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from obsmatte import paths
from obsmatte.errors import ModelError, SettingsError
from obsmatte.evaluation.methods import BASELINE, CachedMatter, Method, Runner
from obsmatte.models import AveragedMatter, MirroredMatter, create_matter
from obsmatte.pipeline import MaskPipeline
from obsmatte.settings import LIVE_KEYS, MatteSettings

from conftest import iou

GENERAL, LANDSCAPE = "mediapipe_selfie_general", "mediapipe_selfie_landscape"
SEARCH = [paths.MODELS_DIR]


def test_the_mirror_is_flipped_back_and_averaged(portraits):
    general = create_matter(GENERAL, "cpu", 1, SEARCH)
    name, rgb, truth = portraits[0]
    p = general.predict(rgb)
    q = general.predict(np.ascontiguousarray(rgb[:, ::-1]))
    assert not np.allclose(p, q[:, ::-1], atol=1e-3)  # the network is not mirror-symmetric: two views
    mirrored = MirroredMatter(general)
    got = mirrored.predict(rgb)
    np.testing.assert_allclose(got, (p + q[:, ::-1]) / 2, atol=1e-6)
    # the motion gate sees the frame as the model saw it, not its mirror image
    np.testing.assert_array_equal(mirrored.last_model_rgb, general._resized(rgb, general.input_hw(rgb.shape[:2])))
    small_truth = cv2.resize(truth, p.shape[::-1], interpolation=cv2.INTER_AREA)
    assert iou(got, small_truth) > 0.85, name


def test_a_mirrored_second_opinion_mirrors_both_models(portraits):
    general, landscape = create_matter(GENERAL, "cpu", 1, SEARCH), create_matter(LANDSCAPE, "cpu", 1, SEARCH)
    pair = AveragedMatter(general, landscape)
    rgb = portraits[1][1]
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    want = (pair.predict(rgb) + pair.predict(flipped)[:, ::-1]) / 2
    np.testing.assert_allclose(MirroredMatter(pair).predict(rgb), want, atol=1e-6)


@pytest.mark.parametrize("second", ["", LANDSCAPE])
def test_pipeline_with_mirror_pass_streams_like_process(portraits, second):
    settings = MatteSettings({"model": GENERAL, "second_model": second, "mirror_pass": True,
                              "temporal_smoothing": 0.8})
    pipeline = MaskPipeline(settings, search_dirs=SEARCH)
    assert isinstance(pipeline.matter, MirroredMatter) and pipeline.matter.inner is pipeline.model
    frames = [cv2.resize(rgb, (320, 180)) for _, rgb, _ in portraits[:4]]
    expected = [pipeline.process(f) for f in frames]
    streamed = list(MaskPipeline(settings, search_dirs=SEARCH).stream(iter(frames)))
    assert len(streamed) == len(frames)  # zip below would pass a stream that drops its last mask
    for (_, mask), want in zip(streamed, expected):
        np.testing.assert_array_equal(mask, want)


def test_mirror_pass_is_a_live_setting_that_keeps_the_model(portraits):
    assert "mirror_pass" in LIVE_KEYS
    settings = MatteSettings({"model": GENERAL})
    pipeline = MaskPipeline(settings, search_dirs=SEARCH)
    model = pipeline.model
    assert pipeline.matter is model
    frame = cv2.resize(portraits[2][1], (320, 180))
    plain = pipeline.process(frame)
    pipeline.update(settings.replace(mirror_pass=True))
    assert pipeline.model is model and isinstance(pipeline.matter, MirroredMatter)
    pipeline.reset()
    assert not np.array_equal(pipeline.process(frame), plain)
    pipeline.update(settings)
    assert pipeline.matter is model
    with pytest.raises(SettingsError):
        MatteSettings({"mirror_pass": "yes"})


def test_a_video_matting_model_leaves_the_mirror_pass_out():
    """RVM picked over the Low light preset runs alone (its memory needs the frames in order)."""
    from conftest import need_shared
    need_shared("models")
    settings = MatteSettings({"model": "rvm_mobilenetv3", "mirror_pass": True})
    pipeline = MaskPipeline(settings, search_dirs=SEARCH + [paths.SHARED_DIR / "models"])
    assert not isinstance(pipeline.matter, MirroredMatter)
    with pytest.raises(ModelError, match="memory"):
        MirroredMatter(pipeline.matter)  # asked for directly, it says why not


def test_the_evaluation_runs_the_mirror_over_its_cache_and_the_baseline_never_mirrors(portraits):
    cached = CachedMatter(create_matter(GENERAL, "cpu", 1, SEARCH))
    rgb = cv2.resize(portraits[3][1], (320, 240))
    ours = Runner(Method("low_light", MatteSettings({"model": GENERAL, "mirror_pass": True})), cached)
    ours.start()
    ours.frame(rgb)
    assert cached.misses == 2  # the frame and its mirror image
    base = Runner(Method(BASELINE, None), cached)
    base.start()
    base.frame(rgb)
    assert cached.misses == 2 and cached.hits == 1  # the baseline reads the frame alone
