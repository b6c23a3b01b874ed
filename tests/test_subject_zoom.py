"""Subject zoom (settings.subject_zoom; models.ZoomedMatter): the first model finds the person on the whole
frame, the preset's view of the model(s) looks again at a crop around them. The crop and the paste-back
with stand-in models whose answers are known, the box held still in a stream, then real models on the
studio scene."""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from obsmatte import paths
from obsmatte.errors import ModelError
from obsmatte.models import MirroredMatter, ZoomedMatter
from obsmatte.pipeline import MaskPipeline
from obsmatte.settings import MatteSettings

GENERAL, LANDSCAPE = "mediapipe_selfie_general", "mediapipe_selfie_landscape"
SEARCH = [paths.MODELS_DIR]


class RedModel:
    """A stand-in 64x64 model whose confidence is the frame's red channel / 255, resized."""
    spec = SimpleNamespace(id="red", family="mediapipe", input=SimpleNamespace(size=(64, 64)))

    def __init__(self, scale: float = 1.0):
        self.scale, self.calls, self.last_model_rgb = scale, [], None

    def predict(self, rgb):
        self.calls.append(rgb.shape)
        self.last_model_rgb = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
        return self.scale * cv2.resize(rgb[:, :, 0].astype(np.float32) / 255.0, (64, 64),
                                       interpolation=cv2.INTER_AREA)

    def reset(self):
        pass


def _person_frame(h=360, w=640, box=(100, 360, 250, 400)):
    """A red rectangle (the 'person') on black."""
    frame = np.zeros((h, w, 3), np.uint8)
    frame[box[0]:box[1], box[2]:box[3], 0] = 255
    return frame


def test_the_crop_is_the_box_around_the_person_with_a_margin_and_its_answer_is_pasted_back():
    finder, inner = RedModel(), RedModel(scale=0.5)  # the inner's answer is told apart by its scale
    zoom = ZoomedMatter(finder, inner)
    frame = _person_frame()
    prob = zoom.predict(frame)
    assert prob.shape == (64, 64)  # the finder's grid
    assert len(finder.calls) == 1 and finder.calls[0] == frame.shape
    (ch, cw, _), = inner.calls
    # the person is 260 x 150 px; 15% of that on each side (the bottom clamped to the frame)
    assert 295 <= ch <= 302 and 190 <= cw <= 200, (ch, cw)
    # inside the box the inner's answer (0.5 on the person), outside the finder's (0 here)
    assert prob[40:60, 30:36].mean() == pytest.approx(0.5, abs=0.02)
    assert prob[:, :15].max() == 0.0 and prob[:, 55:].max() == 0.0
    assert zoom.last_model_rgb is finder.last_model_rgb


def test_a_wider_margin_takes_in_more_of_the_surroundings():
    prob = np.zeros((64, 64), np.float32)
    prob[20:44, 24:40] = 1.0
    narrow, _ = ZoomedMatter(RedModel(), RedModel()).find_box(prob, (640, 640))
    wide, _ = ZoomedMatter(RedModel(), RedModel(), margin=0.3).find_box(prob, (640, 640))
    assert narrow[1] - narrow[0] == pytest.approx(24 / 64 * 1.3)
    assert wide[1] - wide[0] == pytest.approx(24 / 64 * 1.6)


def test_a_thin_box_is_widened_so_the_model_does_not_squash_it():
    zoom = ZoomedMatter(RedModel(), RedModel())
    (y0, y1, x0, x1), _ = zoom.find_box(np.pad(np.ones((60, 2), np.float32), ((2, 2), (31, 31))), (360, 640))
    aspect = (x1 - x0) * 640 / ((y1 - y0) * 360)
    assert aspect == pytest.approx(0.5, abs=0.01)  # the square model's aspect / ASPECT_LIMIT


def test_nobody_found_or_a_person_filling_the_frame_runs_the_view_on_the_whole_frame():
    finder, inner = RedModel(), RedModel(scale=0.5)
    zoom = ZoomedMatter(finder, inner)
    assert zoom.predict(np.zeros((360, 640, 3), np.uint8)).max() == 0.0
    assert inner.calls == [(360, 640, 3)]
    big = _person_frame(box=(0, 360, 20, 620))
    prob = zoom.predict(big)
    assert inner.calls[-1] == (360, 640, 3) and prob.max() == pytest.approx(0.5, abs=0.01)


def test_a_speck_is_not_cropped():
    zoom = ZoomedMatter(RedModel(), RedModel())
    speck = np.zeros((64, 64), np.float32)
    speck[30, 30] = 1.0
    assert zoom.find_box(speck, (180, 320)) is None  # 3 x 5 px of the frame


def test_without_a_crop_a_second_opinion_takes_the_finders_answer_for_its_first_model():
    from obsmatte.models import AveragedMatter
    finder, second = RedModel(), RedModel(scale=0.5)
    zoom = ZoomedMatter(finder, AveragedMatter(finder, second))
    frame = _person_frame(box=(0, 360, 20, 620))
    prob = zoom.predict(frame)
    assert finder.calls == [(360, 640, 3)] and second.calls == [(360, 640, 3)]
    np.testing.assert_allclose(prob, AveragedMatter(RedModel(), RedModel(scale=0.5)).predict(frame), atol=1e-6)


def test_without_a_crop_a_view_that_is_the_finder_itself_is_not_run_twice():
    model = RedModel()
    zoom = ZoomedMatter(model, model)
    zoom.predict(_person_frame(box=(0, 360, 20, 620)))
    assert model.calls == [(360, 640, 3)]


def test_in_a_stream_the_box_holds_while_the_person_stays_inside_and_follows_when_they_leave():
    zoom = ZoomedMatter(RedModel(), RedModel())
    zoom.predict(_person_frame(box=(100, 360, 250, 400)))
    first = zoom.box
    zoom.predict(_person_frame(box=(104, 360, 256, 404)))  # a small sway: the same crop
    assert zoom.box == first
    zoom.predict(_person_frame(box=(100, 360, 420, 570)))  # walked to the side: a new crop at once
    assert zoom.box != first and zoom.box[2] > first[3] - 0.1
    zoom.reset()
    assert zoom.box is None


def test_video_matting_models_are_refused():
    rvm = SimpleNamespace(spec=SimpleNamespace(id="rvm", family="rvm", input=SimpleNamespace(size=None)))
    with pytest.raises(ModelError, match="video-matting"):
        ZoomedMatter(RedModel(), rvm)


def test_zoom_is_a_live_setting_outermost_with_the_first_model_as_finder():
    settings = MatteSettings({"model": GENERAL, "second_model": LANDSCAPE})
    pipeline = MaskPipeline(settings, search_dirs=SEARCH)
    model = pipeline.model
    pipeline.update(settings.replace(subject_zoom=True, mirror_pass=True))
    assert pipeline.model is model, "the zoom must not reload the model"
    zoom = pipeline.matter
    assert isinstance(zoom, ZoomedMatter) and isinstance(zoom.inner, MirroredMatter)
    assert zoom.finder is model.first
    assert pipeline.process(np.zeros((360, 640, 3), np.uint8)).shape == (256, 256)
    assert zoom.margin == pytest.approx(0.15)
    pipeline.update(pipeline.settings.replace(zoom_margin=0.3))  # live: the same zoom, a wider crop
    assert pipeline.matter is zoom and zoom.margin == pytest.approx(0.3)
    pipeline.update(pipeline.settings.replace(subject_zoom=False))
    assert not isinstance(pipeline.matter, ZoomedMatter)


def test_on_the_studio_scene_the_zoom_lowers_the_error(shared_models_dir):
    """Real models on the eval's studio scene, at the OBS worker's input size (320 px): the Studio
    preset's error with the zoom is lower than without it on average, and on most of the portraits where
    it engages (not where the person fills the frame)."""
    from obsmatte.evaluation import metrics
    from obsmatte.evaluation.scenes import build_studio, load_portraits
    from obsmatte.pipeline import matte_image
    from obsmatte.presets import load_preset_file
    preset = load_preset_file(paths.PRESETS_DIR / "studio.json").apply()
    errors = {}
    for zoom in (False, True):
        settings = preset.replace(subject_zoom=zoom)
        pipeline = MaskPipeline(settings, search_dirs=SEARCH)
        errors[zoom] = []
        for s in build_studio(load_portraits()):
            h, w = s.image.shape[:2]
            k = settings.inference_size / max(h, w)
            small = cv2.resize(s.image, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
            pipeline.reset()
            alpha = matte_image(small, settings, pipeline)
            truth = cv2.resize(s.alpha, small.shape[1::-1], interpolation=cv2.INTER_AREA)
            errors[zoom].append(metrics.mae(alpha, truth))
    without, with_zoom = np.array(errors[False]), np.array(errors[True])
    assert with_zoom.mean() < 0.95 * without.mean(), (with_zoom.mean(), without.mean())
    zoomed = with_zoom != without  # where the person fills the frame the zoom does not engage
    assert zoomed.sum() >= 4, zoomed
    assert (with_zoom < without)[zoomed].mean() > 0.5, (with_zoom, without)


def test_a_stream_gives_the_masks_one_by_one_processing_gives(portraits):
    """pipeline.stream (the video command: the finder's input prepared while the model runs) and
    process() frame by frame give the same masks with the zoom, the crop held across frames alike."""
    settings = MatteSettings({"subject_zoom": True, "temporal_smoothing": 0.5})
    _, rgb, _ = portraits[0]
    canvas = np.full((360, 640, 3), 120, np.uint8)
    small = cv2.resize(rgb, (240, 300), interpolation=cv2.INTER_AREA)
    frames = []
    for dx in (0, 3, 6, 60):  # a small sway, then a step to the side
        f = canvas.copy()
        f[60:360, 150 + dx:390 + dx] = small
        frames.append(f)
    one = MaskPipeline(settings, search_dirs=SEARCH)
    assert hasattr(one.matter, "prepare")
    by_one = [one.process(f) for f in frames]
    streamed = [m for _, m in MaskPipeline(settings, search_dirs=SEARCH).stream(iter(frames))]
    assert one.matter.box is not None  # the zoom cropped
    assert len(streamed) == len(frames)  # zip below would pass a stream that drops its last mask
    for a, b in zip(by_one, streamed):
        assert np.abs(a - b).max() < 1e-5
