"""The second peer baseline (evaluation/plugin_code.py): obs-backgroundremoval's default mask pipeline as its
code runs it. Each behaviour on small synthetic arrays with a fake model, and one multi-person image on the
real model."""
from __future__ import annotations

import numpy as np

from conftest import need_shared
from obsmatte.evaluation import baseline, metrics, plugin_code, scenes
from obsmatte.evaluation.plugin_code import PluginCodeBaseline

H, W = 36, 64  # the fake model's output size (the frames are twice that)


class FakeMatter:
    """Hands out the given probabilities in turn (the last one again when they run out); counts its runs."""
    spec = info = None

    def __init__(self, *probs: np.ndarray):
        self.probs = list(probs)
        self.calls = self.resets = 0

    def predict(self, rgb):
        self.calls += 1
        return self.probs.pop(0) if len(self.probs) > 1 else self.probs[0]

    def reset(self):
        self.resets += 1


def frame(level: int) -> np.ndarray:
    return np.full((2 * H, 2 * W, 3), level, np.uint8)


def people(*columns: tuple[int, int], top: int = 10) -> np.ndarray:
    """Person probability 1 in the given column ranges from `top` down to the bottom edge."""
    p = np.zeros((H, W), np.float32)
    for a, b in columns:
        p[top:, a:b] = 1.0
    return p


def alpha_small(alpha: np.ndarray) -> np.ndarray:
    """The full-size binary alpha back at the model's size (every other pixel)."""
    return alpha[1::2, 1::2]


# ------------------------------------------------------------------------------------- image similarity
def test_a_near_identical_frame_keeps_the_previous_mask_without_running_the_model():
    m = FakeMatter(people((10, 30)), np.zeros((H, W), np.float32))
    b = PluginCodeBaseline(m)
    first = b.matte(frame(100))
    rng = np.random.default_rng(0)
    noisy = np.clip(frame(100) + rng.normal(0, 2, frame(100).shape), 0, 255).astype(np.uint8)  # ~42 dB
    again = b.matte(noisy)
    assert m.calls == 1 and b.skipped == 1 and np.array_equal(first, again)
    assert first[40, 40] == 1.0  # the person, not an empty mask


def test_a_changed_frame_is_processed():
    m = FakeMatter(people((10, 30)), np.zeros((H, W), np.float32))
    b = PluginCodeBaseline(m)
    b.matte(frame(100))
    changed = b.matte(frame(140))  # 40 grey levels: ~21 dB
    assert m.calls == 2 and b.skipped == 0
    assert changed.max() == 0.0  # the model's new answer (nobody) is shown at once


def test_similarity_compares_with_the_last_processed_frame_not_the_last_seen():
    """Steps of 2 grey levels are each similar to the frame before, but the third is 6 levels from the last
    processed frame: PSNR 33.8 dB over BGRA, below 35, so it is processed."""
    m = FakeMatter(np.zeros((H, W), np.float32))
    b = PluginCodeBaseline(m)
    for level in (100, 102, 104, 106):
        b.matte(frame(level))
    assert (b.processed, b.skipped) == (2, 2)


def test_similarity_psnr_counts_the_constant_alpha_channel():
    """A change of 5 grey levels everywhere: PSNR 34.2 dB over RGB but 35.4 dB over BGRA (the plugin's
    cv::PSNR on the BGRA frame, alpha 255 in both), so the plugin skips it."""
    assert plugin_code.frame_psnr(frame(100), frame(105)) < 35
    b = PluginCodeBaseline(FakeMatter(np.zeros((H, W), np.float32)))
    b.matte(frame(100))
    b.matte(frame(105))
    assert b.skipped == 1


# ---------------------------------------------------------------------------------------- threshold
def test_threshold_is_on_the_rounded_uint8_probability():
    """uint8(round(p * 255)) < 127 is background: 0.497 rounds to 127 (person), 0.49 to 125 (background)."""
    prob = np.array([[0.49, 0.497, 0.5, 0.9]], np.float32)
    assert plugin_code.background_mask(prob).tolist() == [[255, 0, 0, 0]]


# ----------------------------------------------------------------------------------- contour filter
def test_contour_filter_keeps_two_separate_people_the_largest_blob_rule_drops_one():
    prob = people((5, 20), (40, 50))  # two people reaching the bottom edge, the right one smaller
    assert baseline.largest_blob_only(prob)[30, 45] == 0.0  # the first baseline drops the smaller one
    kept = plugin_code.contour_filter(plugin_code.background_mask(prob))
    assert kept[30, 10] == 0 and kept[30, 45] == 0  # 0 = person: both kept
    assert kept[2, 30] == 255 and kept[30, 30] == 255  # background stays background


def test_contour_filter_drops_a_speck_and_fills_a_small_gap():
    prob = people((20, 44))
    prob[3:5, 50:52] = 1.0  # a speck of "person" in the background
    prob[20:23, 30:33] = 0.0  # a small background hole inside the person
    bg = plugin_code.background_mask(prob)
    kept = plugin_code.contour_filter(bg)
    assert bg[4, 50] == 0 and kept[4, 50] == 255  # the speck is background now
    assert bg[21, 31] == 255 and kept[21, 31] == 0  # the hole is person now
    assert kept[30, 30] == 0


def test_contour_filter_drops_a_person_enclosed_by_background_whatever_their_size():
    """The filter keeps background outlines filled: a person who does not reach the frame's edge is a hole of
    the background and is filled over (the plugin's RETR_EXTERNAL + filled drawContours)."""
    prob = np.zeros((H, W), np.float32)
    prob[5:30, 10:50] = 1.0  # 40% of the frame, touching no edge
    assert plugin_code.contour_filter(plugin_code.background_mask(prob)).min() == 255


def test_pipeline_keeps_both_people_and_drops_the_speck():
    prob = people((5, 20), (40, 50))
    prob[2:8, 26:32] = 1.0  # 6x6: big enough to outlast the smoothing, under 5% of the frame
    a = alpha_small(PluginCodeBaseline(FakeMatter(prob)).matte(frame(100)))
    assert a[30, 12] == 1.0 and a[30, 45] == 1.0 and a[4, 28] == 0.0
    survives_smoothing = plugin_code.to_frame(plugin_code.smooth_contour(plugin_code.background_mask(prob)),
                                              (2 * H, 2 * W))
    assert survives_smoothing[9, 57] == 0  # without the contour filter the speck would stay


# ----------------------------------------------------------------------------------------- smoothing
def test_smooth_contour_removes_a_thin_sliver_and_keeps_the_body():
    prob = people((20, 44))
    prob[2:10, 31:33] = 1.0  # a 2-px sliver above the person's head
    bg = plugin_code.contour_filter(plugin_code.background_mask(prob))
    assert bg[5, 31] == 0  # still there after the contour filter (it is part of the person's outline)
    assert plugin_code.smooth_kernel() == 9
    out = plugin_code.to_frame(plugin_code.smooth_contour(bg), (2 * H, 2 * W))
    assert out[10, 63] == 255  # gone after the 9x9 stack blur and > 128
    assert out[50, 64] == 0  # the body stays person


def test_temporal_smoothing_new_mask_weighs_085_and_the_person_shows_three_frames_late():
    """The smoothed uint8 mask is what the contour filter reads, where any non-zero pixel is background: a
    person appearing reads 38, 6, 1, then 0 as background, so shows on their fourth frame (three frames
    late); a person leaving reads 217 at once, so the background comes back on the next frame."""
    nobody, someone = np.zeros((H, W), np.float32), people((20, 44))
    smoothed = plugin_code.temporal_smooth(plugin_code.background_mask(someone),
                                           plugin_code.background_mask(nobody))
    assert smoothed[30, 30] == 38 and smoothed[2, 2] == 255
    assert plugin_code.temporal_smooth(plugin_code.background_mask(nobody),
                                       plugin_code.background_mask(someone))[30, 30] == 217

    m = FakeMatter(nobody, someone)
    b = PluginCodeBaseline(m)
    shown = [alpha_small(b.matte(frame(level)))[30, 30] for level in (0, 60, 120, 180, 240)]  # all processed
    assert m.calls == 5 and shown == [0.0, 0.0, 0.0, 0.0, 1.0]
    m.probs = [nobody]
    assert alpha_small(b.matte(frame(20)))[30, 30] == 0.0


# --------------------------------------------------------------------------------------------- reset
def test_reset_forgets_the_last_frame_and_the_smoothing():
    nobody, someone = np.zeros((H, W), np.float32), people((20, 44))
    m = FakeMatter(nobody, someone)
    b = PluginCodeBaseline(m)
    b.matte(frame(100))
    b.reset()
    assert m.resets == 1 and (b.processed, b.skipped) == (0, 0)
    # the same frame again: processed (no previous frame to be similar to), and the person shows at once
    # (no smoothed mask from before the reset to hold the background)
    assert alpha_small(b.matte(frame(100)))[30, 30] == 1.0 and m.calls == 2


def test_without_reset_the_same_frame_is_skipped():
    m = FakeMatter(np.zeros((H, W), np.float32), people((20, 44)))
    b = PluginCodeBaseline(m)
    b.matte(frame(100))
    assert alpha_small(b.matte(frame(100)))[30, 30] == 0.0 and m.calls == 1


# -------------------------------------------------------------------------------------- real model
def test_plugin_code_keeps_the_person_the_first_baseline_loses(shared_models_dir):
    """On the eval's first multi-person image (two people apart), the largest-blob baseline loses one; the
    plugin's contour filter keeps both."""
    need_shared("eval", "portraits", "image")
    from obsmatte.evaluation.methods import BASELINE, PLUGIN_CODE, Method, Runner, load_matter
    matter = load_matter("mediapipe_selfie_landscape", search_dirs=[shared_models_dir])
    sample = scenes.build_multi_person(scenes.load_portraits(limit=3))[0]

    def recalls(method):
        r = Runner(method, matter)
        r.start()
        a = r.frame(sample.image)
        return [metrics.person_recall(a, p) for p in sample.persons]

    base = recalls(Method(BASELINE, None))
    code = recalls(Method(PLUGIN_CODE, None, PLUGIN_CODE))
    assert isinstance(Runner(Method(PLUGIN_CODE, None, PLUGIN_CODE), matter)._other, PluginCodeBaseline)
    assert min(base) < 0.95, f"baseline recalls {base}"
    assert min(code) >= 0.95, f"plugin-code recalls {code}"


def test_real_frames_of_a_still_portrait_with_sensor_noise_are_skipped(shared_models_dir):
    """A still portrait with fresh noise (sigma 2) per frame is ~40 dB from the first: the plugin runs the
    model once and shows that mask on every frame (still flicker 0)."""
    need_shared("eval", "stills", "portrait.jpg")
    from obsmatte.evaluation.methods import load_matter
    from obsmatte.evaluation.videos import still_sequence
    matter = load_matter("mediapipe_selfie_landscape", search_dirs=[shared_models_dir])
    b = PluginCodeBaseline(matter)
    b.reset()
    seq = still_sequence(5)
    alphas = [b.matte(f) for f in seq.frames]
    assert (b.processed, b.skipped) == (1, 4)
    assert all(np.array_equal(alphas[0], a) for a in alphas[1:]) and 0 < alphas[0].mean() < 1


def test_a_still_person_after_a_black_frame_stays_hidden_by_the_plugin_code_and_shows_with_ours(
        shared_models_dir):
    """A camera that starts dark, or a scene switched to: one black frame, then a still portrait with
    sensor-like noise. The plugin's first mask is all background; the portrait's mask, smoothed with it, is
    non-zero everywhere (so all background to the contour filter), and every later frame is within 35 dB
    of it and skipped: nobody is shown until the picture changes. tools/peer_check.py shows the real plugin
    doing the same in OBS. Our Studio preset shows the person from the first frame after the black one."""
    need_shared("eval", "stills", "portrait.jpg")
    from obsmatte.evaluation.methods import load_matter
    from obsmatte.evaluation.videos import still_sequence
    from obsmatte.pipeline import MaskPipeline, matte_image
    from obsmatte.presets import get_preset
    frames = still_sequence(6).frames
    black = np.zeros_like(frames[0])
    b = PluginCodeBaseline(load_matter("mediapipe_selfie_landscape", search_dirs=[shared_models_dir]))
    b.reset()
    b.matte(black)
    theirs = [b.matte(f) for f in frames]
    assert (b.processed, b.skipped) == (2, 5)
    assert all(a.max() == 0.0 for a in theirs)
    b.reset()
    assert b.matte(frames[0]).mean() > 0.1  # the same portrait without the black frame first is shown

    settings = get_preset("studio").apply()
    pipeline = MaskPipeline(settings)
    matte_image(black, settings, pipeline)
    ours = [matte_image(f, settings, pipeline) for f in frames]
    fresh = matte_image(frames[0], settings, MaskPipeline(settings))
    person = fresh > 0.5
    assert person.mean() > 0.1
    assert all(a[person].mean() > 0.9 for a in ours)
