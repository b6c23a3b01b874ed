"""Wide-frame tiles (settings.wide_tiles; models.TiledMatter): a square-input model also sees square tiles
of a wide frame, stitched into one mask of the frame's aspect. The stitching with a stand-in model whose
answer is known, then real models through the pipeline on the multi-person scene."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from obsmatte import paths
from obsmatte.errors import ModelError
from obsmatte.models import TiledMatter, create_matter
from obsmatte.pipeline import MaskPipeline
from obsmatte.settings import MatteSettings

GENERAL, LANDSCAPE = "mediapipe_selfie_general", "mediapipe_selfie_landscape"
SEARCH = [paths.MODELS_DIR]


class ColumnModel:
    """A stand-in square model (64x64) whose confidence is the frame's red channel / 255, resized:
    the stitched mask must then be the whole frame's red channel at the mask's size."""
    spec = SimpleNamespace(id="column", family="mediapipe", input=SimpleNamespace(size=(64, 64)))
    last_model_rgb = None

    def __init__(self):
        self.calls = []

    def predict(self, rgb):
        import cv2
        self.calls.append(rgb.shape)
        return cv2.resize(rgb[:, :, 0].astype(np.float32) / 255.0, (64, 64), interpolation=cv2.INTER_AREA)

    def reset(self):
        pass


def _ramp_frame(h, w):
    red = np.tile(np.linspace(0, 255, w, dtype=np.float32), (h, 1))
    return np.dstack([red, np.zeros_like(red), np.zeros_like(red)]).astype(np.uint8)


def test_a_wide_frame_is_seen_as_square_tiles_and_stitched_seamlessly():
    inner = ColumnModel()
    tiled = TiledMatter(inner)
    frame = _ramp_frame(180, 320)  # 16:9
    assert tiled.tile_xs(frame.shape[:2]) == [0, 140]
    mask = tiled.predict(frame)
    assert inner.calls == [(180, 180, 3), (180, 180, 3)]  # two square tiles, the full height each
    assert mask.shape == (64, round(64 * 320 / 180))
    want = np.linspace(0, 1, mask.shape[1])
    # the stitched mask is the frame's own ramp: no seam, no step where the tiles overlap
    assert np.abs(mask.mean(axis=0) - want).max() < 0.02
    assert np.abs(np.diff(mask.mean(axis=0))).max() < 0.03
    assert tiled.last_model_rgb.shape == (64, mask.shape[1], 3)


class BlindAtTheRightEdge(ColumnModel):
    """Like ColumnModel, but takes whatever is in the right quarter of its input for background, as a real
    model takes a person cut in half by the edge of what it sees."""

    def predict(self, rgb):
        prob = super().predict(rgb)
        prob[:, 48:] = 0.0
        return prob


def test_a_person_on_the_seam_is_kept_if_either_tile_sees_them():
    inner = BlindAtTheRightEdge()
    tiled = TiledMatter(inner)
    frame = np.zeros((180, 320, 3), np.uint8)
    frame[60:180, 150:170, 0] = 255  # someone in the middle of the frame: inside both tiles' overlap
    assert tiled.tile_xs(frame.shape[:2]) == [0, 140]
    mask = tiled.predict(frame)
    side = mask.shape[0]
    x0, x1 = round(150 * side / 180), round(170 * side / 180)
    # the left tile sees them at its right edge (blind there), the right tile whole: kept, not faded
    assert mask[40:, x0 + 1:x1 - 1].mean() > 0.95
    assert mask[:, :x0 - 2].max() < 0.05 and mask[:, x1 + 2:].max() < 0.05


def test_a_frame_as_narrow_as_the_model_input_goes_to_the_model_as_it_is():
    inner = ColumnModel()
    tiled = TiledMatter(inner)
    frame = _ramp_frame(200, 210)
    assert tiled.tile_xs(frame.shape[:2]) == []
    assert tiled.predict(frame).shape == (64, 64) and inner.calls == [(200, 210, 3)]
    # a model with a wide input (landscape 144x256) is not tiled on a 16:9 frame
    landscape = create_matter(LANDSCAPE, "cpu", 1, SEARCH)
    assert TiledMatter(landscape).tile_xs((180, 320)) == []


def test_video_matting_models_are_refused():
    rvm = SimpleNamespace(spec=SimpleNamespace(id="rvm", family="rvm", input=SimpleNamespace(size=None)))
    with pytest.raises(ModelError, match="video-matting"):
        TiledMatter(rvm)


def test_tiles_are_a_live_setting_and_wrap_inside_the_mirror(portraits):
    settings = MatteSettings({"model": GENERAL})
    pipeline = MaskPipeline(settings, search_dirs=SEARCH)
    frame = np.zeros((360, 640, 3), np.uint8)
    assert pipeline.process(frame).shape == (256, 256)
    model = pipeline.model
    pipeline.update(settings.replace(wide_tiles=True, mirror_pass=True))
    assert pipeline.model is model, "tiles must not reload the model"
    assert type(pipeline.matter).__name__ == "MirroredMatter" and isinstance(pipeline.matter.inner, TiledMatter)
    assert pipeline.process(frame).shape == (256, 455)


def test_the_multi_person_preset_keeps_people_a_squeezed_view_loses(shared_models_dir):
    """The multi-person scene drawn with other neighbours (tools/scene_draws.py --scene multi_person,
    draws 2 and 5, where the preset without tiles lost a small crouching person, recall 0.000 and
    0.013): with the preset's tiles and second opinion every person is found (recall > 0.5)."""
    from obsmatte.evaluation.methods import Method, load_matter
    from obsmatte.evaluation.runner import Runner, score_stills
    from obsmatte.evaluation.scenes import build_multi_person, load_portraits
    from obsmatte.presets import load_preset_file
    preset = load_preset_file(paths.PRESETS_DIR / "multi_person.json").apply()
    assert preset.wide_tiles
    matter = load_matter(preset.model)
    portraits = load_portraits()
    for k in (2, 5):
        samples = build_multi_person(portraits, order_seed=k, background_offset=13 * k)
        squeezed, _ = score_stills(Runner(Method("as_it_was", preset.replace(wide_tiles=False, second_model="")),
                                           matter), samples)
        tiled, _ = score_stills(Runner(Method("multi_person", preset), matter), samples)
        assert squeezed.recall_min < 0.1, (k, squeezed.recall_min)
        assert tiled.recall_min > 0.5, (k, tiled.recall_min)


@pytest.mark.parametrize("h, w, tiles", [(180, 320, 2), (1080, 2560, 3), (1080, 3840, 4), (100, 400, 4)])
def test_16_9_21_9_and_32_9_frames_keep_their_tiles(h, w, tiles):
    inner = ColumnModel()
    mask = TiledMatter(inner).predict(_ramp_frame(h, w))
    assert inner.calls == [(h, h, 3)] * tiles
    assert mask.shape == (64, round(64 * w / h))


@pytest.mark.parametrize("h, w", [(100, 401), (1, 2000), (2, 4000)])
def test_a_frame_wider_than_four_squares_goes_to_the_model_whole(h, w):
    """The tile count was ceil(w / h) without limit: a 1x2000 strip ran 2000 inferences and stitched a
    64 x 128000 mask (256 x 512000, ~0.5 GB, with a 256-pixel model)."""
    inner = ColumnModel()
    tiled = TiledMatter(inner)
    assert tiled.tile_xs((h, w)) == []
    mask = tiled.predict(_ramp_frame(h, w))
    assert inner.calls == [(h, w, 3)]  # one inference, on the frame as it is
    assert mask.shape == (64, 64)
    assert tiled.last_model_rgb is None  # the inner model's own view, as for a frame that is not wide
