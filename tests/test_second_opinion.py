"""A second model's opinion (settings.second_model): the two models' person probabilities averaged at the
first model's size, through the same pipeline the filter and the command line run. Real models."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from obsmatte import paths
from obsmatte.errors import ModelError
from obsmatte.models import AveragedMatter, create_matter, get_spec
from obsmatte.pipeline import MaskPipeline, has_second_opinion
from obsmatte.settings import MatteSettings

from conftest import iou

GENERAL, LANDSCAPE = "mediapipe_selfie_general", "mediapipe_selfie_landscape"
SEARCH = [paths.MODELS_DIR]


def test_the_average_of_two_real_models_at_the_first_ones_size(portraits):
    general, landscape = create_matter(GENERAL, "cpu", 1, SEARCH), create_matter(LANDSCAPE, "cpu", 1, SEARCH)
    pair = AveragedMatter(general, landscape)
    name, rgb, truth = portraits[0]
    p, q = general.predict(rgb), landscape.predict(rgb)
    assert p.shape != q.shape  # 256x256 and 144x256: the second is resized to the first's size
    got = pair.predict(rgb)
    want = (p + cv2.resize(q, p.shape[::-1], interpolation=cv2.INTER_LINEAR)) / 2
    assert got.shape == p.shape
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert pair.last_model_rgb is general.last_model_rgb  # the motion gate sees the first model's picture
    small_truth = cv2.resize(truth, p.shape[::-1], interpolation=cv2.INTER_AREA)
    assert iou(got, small_truth) > 0.85, name


def test_pipeline_loads_the_second_model_and_streams_like_process(portraits):
    settings = MatteSettings({"model": GENERAL, "second_model": LANDSCAPE, "temporal_smoothing": 0.8})
    pipeline = MaskPipeline(settings, search_dirs=SEARCH)
    assert isinstance(pipeline.matter, AveragedMatter) and pipeline.matter.second.spec.id == LANDSCAPE
    frames = [rgb for _, rgb, _ in portraits[:4]]
    frames = [cv2.resize(f, (320, 180)) for f in frames]
    expected = [pipeline.process(f) for f in frames]
    streamed = list(MaskPipeline(settings, search_dirs=SEARCH).stream(iter(frames)))
    assert len(streamed) == len(frames)  # zip below would pass a stream that drops its last mask
    for (_, mask), want in zip(streamed, expected):
        np.testing.assert_array_equal(mask, want)


def test_same_model_twice_or_none_is_no_second_opinion():
    assert not has_second_opinion(MatteSettings())
    assert not has_second_opinion(MatteSettings({"model": LANDSCAPE, "second_model": LANDSCAPE}))
    assert has_second_opinion(MatteSettings({"model": GENERAL, "second_model": LANDSCAPE}))
    assert not isinstance(MaskPipeline(MatteSettings({"second_model": LANDSCAPE}), search_dirs=SEARCH).matter,
                          AveragedMatter)


def test_a_video_matting_first_model_leaves_the_second_opinion_out():
    """A streamer picking RVM over the Low light preset gets RVM alone, not an error."""
    assert not has_second_opinion(MatteSettings({"model": "rvm_mobilenetv3", "second_model": LANDSCAPE}))


def test_a_video_matting_model_is_refused_with_a_clear_error():
    assert get_spec("rvm_mobilenetv3").family == "rvm"
    settings = MatteSettings({"model": LANDSCAPE, "second_model": "rvm_mobilenetv3"})
    with pytest.raises(ModelError, match="video-matting model"):
        MaskPipeline(settings, search_dirs=SEARCH + [paths.SHARED_DIR / "models"])


def test_a_missing_second_model_is_a_model_error(tmp_path):
    settings = MatteSettings({"model": LANDSCAPE, "second_model": "no_such_model"})
    with pytest.raises(ModelError):
        MaskPipeline(settings, search_dirs=SEARCH)
