"""The worker thread with the real default model: mailbox of one, masks tagged with their frame,
live settings vs restart, errors as messages, clean stop."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import cv2

from obsmatte import paths
from obsmatte import worker as worker_module
from obsmatte.pipeline import StepTimes
from obsmatte.settings import MatteSettings
from obsmatte.worker import MattingWorker

from conftest import iou


def _wait(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def small_portrait(portraits):
    rgb = portraits[0][1]
    return cv2.resize(rgb, (320, int(320 * rgb.shape[0] / rgb.shape[1])), interpolation=cv2.INTER_AREA)


@pytest.fixture
def worker_factory():
    made = []

    def make(settings=None, **kw):
        kw.setdefault("search_dirs", [paths.MODELS_DIR, paths.SHARED_DIR / "models"])
        w = MattingWorker(settings or MatteSettings(), **kw).start()
        made.append(w)
        return w
    yield make
    for w in made:
        assert w.stop(5.0), "worker thread did not stop"


def test_mask_carries_its_frame_and_matches_the_person(worker_factory, small_portrait, portraits):
    w = worker_factory()
    t = time.perf_counter()
    w.submit(small_portrait, frame_id=7, timestamp=t)
    assert _wait(lambda: w.latest() is not None), w.status_text()
    r = w.latest()
    assert (r.frame_id, r.timestamp, r.seq) == (7, t, 1)
    assert r.mask.dtype == np.uint8 and r.mask.flags.c_contiguous
    assert r.mask.shape == (144, 256)  # the default model's output size
    truth = cv2.resize(portraits[0][2], (256, 144), interpolation=cv2.INTER_AREA)
    assert iou(r.mask / 255.0, truth) > 0.8
    assert "masks/s" in w.status_text() and w.error is None


def test_mailbox_keeps_only_the_newest_frame(worker_factory, small_portrait):
    w = worker_factory(MatteSettings({"max_masks_per_second": 5.0}))
    w.submit(small_portrait, 0, time.perf_counter())
    assert _wait(lambda: w.latest() is not None)
    for i in range(1, 50):  # far faster than 5 masks/s
        w.submit(small_portrait, i, time.perf_counter())
    assert _wait(lambda: w.latest().frame_id == 49)
    assert w.latest().seq < 10, "stale frames must be dropped, not queued"
    assert w.stats().dropped_frames >= 40


class _FastPipeline:
    """Stands in for MaskPipeline (same calls the worker makes): ~1 ms a mask, so the cap sets the pace, not
    the model or two busy shared cores."""
    device_info = None
    gpu_note = None

    def __init__(self, settings, search_dirs=None):
        self.times = StepTimes(inference=1.0)

    def process(self, rgb):
        time.sleep(0.001)
        return np.zeros((18, 32), np.float32)  # a new array each time: the worker scales it in place

    def update(self, settings):
        pass

    def reset(self):
        pass


def test_max_masks_per_second_caps_the_rate_and_zero_is_unlimited(monkeypatch):
    """Frames arrive at ~200/s for 2 s: a cap of 5 gives ~10 masks (one per 0.2 s), a cap of 0 (as fast as
    possible) one per frame, far more. Both workers run side by side, so the test takes ~2 s."""
    monkeypatch.setattr(worker_module, "MaskPipeline", _FastPipeline)
    capped = MattingWorker(MatteSettings({"max_masks_per_second": 5.0}), name="obsmatte-capped").start()
    free = MattingWorker(MatteSettings({"max_masks_per_second": 0.0}), name="obsmatte-free").start()
    workers = (capped, free)
    frame = np.zeros((36, 64, 3), np.uint8)
    try:
        for w in workers:
            w.submit(frame, 0, time.perf_counter())
        assert _wait(lambda: all(w.latest() is not None for w in workers), 5.0), [w.status_text() for w in workers]
        first = [w.latest().seq for w in workers]
        frame_id, end = 1, time.monotonic() + 2.0
        while time.monotonic() < end:
            for w in workers:
                w.submit(frame, frame_id, time.perf_counter())
            frame_id += 1
            time.sleep(0.005)
        made = [w.latest().seq - s for w, s in zip(workers, first)]
    finally:
        assert all(w.stop(5.0) for w in workers), "worker thread did not stop"
    assert 7 <= made[0] <= 13, (made, frame_id)
    # each mask needs a new frame: unlimited follows the ~200 frames/s (a model at ~1 ms keeps up)
    assert made[1] > 60, (made, frame_id)
    assert capped.stats().dropped_frames > frame_id // 2, "the capped worker takes the newest frame, not each"


def test_live_settings_do_not_reload_the_model_but_model_change_does(worker_factory, small_portrait):
    w = worker_factory()
    w.submit(small_portrait, 1, time.perf_counter())
    assert _wait(lambda: w.latest() is not None)
    first_pipeline = w._pipeline
    soft = w.latest().mask
    # hard cut: only 0 and 255; the low-light denoise is live too
    w.update(MatteSettings({"threshold": 0.5, "softness": 0.0, "low_light_denoise": 0.75}))
    w.submit(small_portrait, 2, time.perf_counter())
    assert _wait(lambda: w.latest() is not None and w.latest().frame_id == 2)
    hard = w.latest().mask
    assert w._pipeline is first_pipeline, "a live knob must not reload the model"
    assert w._pipeline.denoiser.strength == 0.75
    assert set(np.unique(hard)) <= {0, 255} and len(np.unique(soft)) > 2
    w.update(MatteSettings({"model": "mediapipe_selfie_general"}))
    w.submit(small_portrait, 3, time.perf_counter())
    assert _wait(lambda: w.latest() is not None and w.latest().frame_id == 3)
    assert w._pipeline is not first_pipeline
    assert w.latest().mask.shape == (256, 256)


def test_a_model_change_keeps_the_last_mask_until_the_new_models_first(worker_factory, small_portrait):
    """Choosing a preset with other models reloads them; meanwhile and after, until the new model's first
    mask, the filter keeps drawing the last mask: with none it would pass the video through (the room behind
    the streamer) for a frame or two."""
    w = worker_factory()
    w.submit(small_portrait, 1, time.perf_counter())
    assert _wait(lambda: w.latest() is not None)
    old = w.latest()
    first_pipeline = w._pipeline
    w.update(MatteSettings({"model": "mediapipe_selfie_general"}))
    assert _wait(lambda: w._pipeline is not None and w._pipeline is not first_pipeline)
    time.sleep(0.05)
    assert w.latest() is old
    w.submit(small_portrait, 2, time.perf_counter())
    assert _wait(lambda: w.latest().frame_id == 2)
    assert w.latest().mask.shape == (256, 256)


def test_missing_model_is_an_error_message_not_an_exception(worker_factory, small_portrait, tmp_path):
    w = worker_factory(MatteSettings({"model": "rvm_mobilenetv3"}), search_dirs=[tmp_path])
    assert _wait(lambda: w.error is not None)
    assert "not found" in w.error and "rvm" in w.error
    w.submit(small_portrait, 1, time.perf_counter())
    time.sleep(0.2)
    assert w.latest() is None
    assert w.status_text().startswith("Error:")
    # fixing the setting recovers without a new worker
    w.update(MatteSettings())
    w._search_dirs = [paths.MODELS_DIR, paths.SHARED_DIR / "models"]
    w.update(MatteSettings())
    w.submit(small_portrait, 2, time.perf_counter())
    assert _wait(lambda: w.latest() is not None), w.status_text()
    assert w.error is None


def test_bad_frame_sets_error_and_the_next_good_frame_clears_it(worker_factory, small_portrait):
    w = worker_factory()
    w.submit(np.zeros((0, 0, 3), np.uint8), 1, time.perf_counter())
    assert _wait(lambda: w.error is not None)
    w.submit(small_portrait, 2, time.perf_counter())
    assert _wait(lambda: w.latest() is not None and w.error is None)


def test_rgba_frames_are_accepted(worker_factory, small_portrait):
    w = worker_factory()
    rgba = np.dstack([small_portrait, np.full(small_portrait.shape[:2], 255, np.uint8)])
    w.submit(rgba, 1, time.perf_counter())
    assert _wait(lambda: w.latest() is not None), w.status_text()


def test_stop_is_prompt_and_idempotent(small_portrait):
    w = MattingWorker(MatteSettings(), search_dirs=[paths.MODELS_DIR, paths.SHARED_DIR / "models"]).start()
    for i in range(5):
        w.submit(small_portrait, i, time.perf_counter())
    t0 = time.monotonic()
    assert w.stop(5.0)
    assert time.monotonic() - t0 < 5.0
    assert w.stop(1.0)
    assert not any(t.name == "obsmatte-worker" and t.is_alive() for t in threading.enumerate() if t is w._thread)


def test_stream_gives_the_masks_process_gives_one_by_one():
    """MaskPipeline.stream prepares the next frame on a helper thread; the masks (with their temporal
    state) must be exactly those of process() called frame by frame, in order, with the right frames."""
    from obsmatte.evaluation.videos import read_video, video_dir
    from obsmatte.pipeline import MaskPipeline
    from obsmatte.settings import MatteSettings
    from conftest import need_shared
    need_shared("eval", "video")
    frames = read_video(sorted(video_dir().glob("*.mp4"))[0], 12)
    settings = MatteSettings({"temporal_smoothing": 0.8, "low_light_boost": 0.5, "low_light_denoise": 0.75})
    one_by_one = MaskPipeline(settings)
    expected = [one_by_one.process(f) for f in frames]
    streamed = list(MaskPipeline(settings).stream(iter(frames)))
    assert len(streamed) == len(frames)
    for (frame, mask), original, want in zip(streamed, frames, expected):
        assert frame is original
        np.testing.assert_array_equal(mask, want)
    assert list(MaskPipeline(settings).stream(iter([]))) == []


def test_stream_stops_with_the_models_error_and_leaves_no_thread_behind():
    """A model that fails mid-stream: the masks before it arrive, then its error, and the helper
    thread (which may hold the next frame's preparation and the previous mask's refinement) is gone."""
    from obsmatte.errors import ModelError
    from obsmatte.pipeline import MaskPipeline
    pipeline = MaskPipeline(MatteSettings({"temporal_smoothing": 0.8}))
    real, calls = pipeline.matter.predict_prepared, []

    def failing_on_the_fourth(tensor):
        calls.append(1)
        if len(calls) == 4:
            raise ModelError("the model failed")
        return real(tensor)
    pipeline.matter.predict_prepared = failing_on_the_fourth
    frames = [np.full((180, 320, 3), 30 * i, np.uint8) for i in range(8)]
    got = []
    with pytest.raises(ModelError, match="the model failed"):
        for frame, mask in pipeline.stream(iter(frames)):
            got.append(frame)
    assert len(got) == 2 and got[0] is frames[0] and got[1] is frames[1]  # frame 3's mask was still refining
    assert not any(t.name.startswith("obsmatte-stream") for t in threading.enumerate())


class _RecordingPipeline:
    """Stands in for MaskPipeline and records the worker's calls on it, in order."""
    device_info = None
    gpu_note = None
    made: list = []

    def __init__(self, settings, search_dirs=None):
        self.times = StepTimes(inference=1.0)
        self.calls: list[str] = []
        self.updated = threading.Event()
        _RecordingPipeline.made.append(self)

    def process(self, rgb):
        self.calls.append("process")
        return np.zeros((4, 4), np.float32)

    def update(self, settings):
        self.calls.append("update")
        self.updated.set()

    def reset(self):
        self.calls.append("reset")


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setattr(worker_module, "MaskPipeline", _RecordingPipeline)
    monkeypatch.setattr(_RecordingPipeline, "made", [])
    workers = []

    def start(cap: float) -> MattingWorker:
        w = MattingWorker(MatteSettings({"max_masks_per_second": cap}), name="obsmatte-recording").start()
        workers.append(w)
        return w
    yield start
    assert all(w.stop(5.0) for w in workers), "worker thread did not stop"


_FRAME = np.zeros((8, 8, 3), np.uint8)


def test_a_reset_followed_by_new_settings_is_not_lost(recording):
    """The filter resets the worker on a source size change; a slider moved before the next frame woke the
    worker with settings and no frame, and the reset was cleared there without reaching the pipeline."""
    w = recording(0.0)
    w.submit(_FRAME, 1, time.perf_counter())
    assert _wait(lambda: w.latest() is not None, 10.0)
    pipeline = w._pipeline
    w.reset()
    w.update(MatteSettings({"max_masks_per_second": 0.0, "threshold": 0.6}))
    assert pipeline.updated.wait(10.0), "the settings were not applied"
    w.submit(_FRAME, 2, time.perf_counter())
    assert _wait(lambda: w.latest().frame_id == 2, 10.0)
    assert w._pipeline is pipeline
    assert pipeline.calls[0] == "process" and pipeline.calls[-1] == "process", pipeline.calls
    assert sorted(pipeline.calls[1:-1]) == ["reset", "update"], pipeline.calls  # the reset before frame 2


def _next_mask_after(w: MattingWorker, trigger) -> float:
    """Seconds from trigger() to the worker's next mask, while a frame waits out a 5 s throttle interval."""
    w.submit(_FRAME, 1, time.perf_counter())
    assert _wait(lambda: w.latest() is not None, 10.0)
    w.submit(_FRAME, 2, time.perf_counter())
    time.sleep(0.3)  # the worker is now waiting out the cap's 5 s before frame 2
    assert w.latest().frame_id == 1, "frame 2 came before its interval"
    t0 = time.monotonic()
    trigger()
    assert _wait(lambda: w.latest().frame_id == 2, 15.0)
    return time.monotonic() - t0


@pytest.mark.parametrize("change", ["cap removed", "cap raised", "reset", "model changed"])
def test_the_throttle_wait_ends_with_new_settings_or_a_reset(recording, change):
    """At 0.2 masks/s a frame waits 5 s for its turn. The wait woke only for stop(), so a cap removed or
    raised, a reset (the filter has dropped the old mask) or a new model (whose first mask should replace
    the old model's at once) still waited the old interval out (4.7 s seen). Now the wait ends and is
    worked out again: the next mask comes well within 2 s."""
    w = recording(0.2)
    triggers = {
        "cap removed": lambda: w.update(MatteSettings({"max_masks_per_second": 0.0})),
        "cap raised": lambda: w.update(MatteSettings({"max_masks_per_second": 50.0})),
        "reset": w.reset,
        "model changed": lambda: w.update(MatteSettings({"max_masks_per_second": 0.2,
                                                         "model": "mediapipe_selfie_general"})),
    }
    assert _next_mask_after(w, triggers[change]) < 2.0
    if change == "model changed":
        assert len(_RecordingPipeline.made) == 2 and w._pipeline is _RecordingPipeline.made[1]


def test_live_settings_arriving_during_the_throttle_do_not_lift_the_cap(recording):
    """A slider dragged sends settings many times a second: each cuts the wait short, which is worked out
    again from the last mask, so the cap still holds (the next mask is due 5 s after the first)."""
    w = recording(0.2)
    w.submit(_FRAME, 1, time.perf_counter())
    assert _wait(lambda: w.latest() is not None, 10.0)
    w.submit(_FRAME, 2, time.perf_counter())
    for k in range(20):
        w.update(MatteSettings({"max_masks_per_second": 0.2, "threshold": 0.3 + 0.01 * k}))
        time.sleep(0.05)
    assert w.latest().frame_id == 1 and w.latest().seq == 1
    assert w._pipeline.calls.count("update") >= 1 and w._pipeline.calls.count("process") == 1


# --- a GPU lost while running -----------------------------------------------------------------------

class _GpuLosingPipeline:
    """Stands in for MaskPipeline on a GPU that is lost after loading (a driver reset): every run on it
    fails as a real session's does (models.Matter._run's InferenceError); on the CPU it works."""
    gpu_note = None
    made: list = []
    fail_on_gpu = 10**9  # runs on the GPU that fail (then it recovers)
    cpu_breaks = False  # loading on the CPU raises what no MattingError covers (out of memory, say)

    def __init__(self, settings, search_dirs=None):
        from obsmatte.runtime import SessionInfo
        on_gpu = settings.device != "cpu"
        if not on_gpu and _GpuLosingPipeline.cpu_breaks:
            raise MemoryError("no memory left for the CPU session")
        self.device_info = SessionInfo(settings.device, "cuda" if on_gpu else "cpu",
                                       "CUDAExecutionProvider" if on_gpu else "CPUExecutionProvider", 1)
        self.times = StepTimes(inference=1.0)
        self.updates: list[str] = []
        _GpuLosingPipeline.made.append(self)

    def process(self, rgb):
        from obsmatte.errors import InferenceError
        if self.device_info.device != "cpu" and _GpuLosingPipeline.fail_on_gpu > 0:
            _GpuLosingPipeline.fail_on_gpu -= 1
            raise InferenceError("model mediapipe_selfie_landscape failed to run (device removed)")
        return np.zeros((4, 4), np.float32)

    def update(self, settings):
        self.updates.append(settings.device)

    def reset(self):
        pass


@pytest.fixture
def losing_gpu(monkeypatch):
    monkeypatch.setattr(worker_module, "MaskPipeline", _GpuLosingPipeline)
    monkeypatch.setattr(_GpuLosingPipeline, "made", [])
    workers = []

    def start(fail_on_gpu: int) -> MattingWorker:
        monkeypatch.setattr(_GpuLosingPipeline, "fail_on_gpu", fail_on_gpu)
        w = MattingWorker(MatteSettings({"max_masks_per_second": 0.0}), name="obsmatte-gpu-lost").start()
        workers.append(w)
        return w
    yield start
    assert all(w.stop(5.0) for w in workers), "worker thread did not stop"


def _feed_until(w: MattingWorker, pred, timeout: float = 10.0) -> bool:
    end, i = time.monotonic() + timeout, 0
    while time.monotonic() < end:
        if pred():
            return True
        w.submit(_FRAME, i, time.perf_counter())
        i += 1
        time.sleep(0.01)
    return False


def test_a_gpu_that_keeps_failing_while_running_moves_the_model_to_the_cpu(losing_gpu):
    """Before, each frame failed on the lost GPU and the video passed through until a setting changed."""
    w = losing_gpu(fail_on_gpu=10**9)
    assert _feed_until(w, lambda: w.latest() is not None), w.status_text()
    devices = [p.device_info.device for p in _GpuLosingPipeline.made]
    assert devices == ["cuda", "cpu"], devices
    assert w.error is None
    assert "fell back while running: cuda: model mediapipe_selfie_landscape failed to run (device removed)" \
        in w.status_text()
    # a live setting keeps the model on the CPU (the pipeline's own update would reload it on the GPU) ...
    w.update(MatteSettings({"max_masks_per_second": 0.0, "threshold": 0.6}))
    assert _wait(lambda: _GpuLosingPipeline.made[-1].updates == ["cpu"], 5.0), _GpuLosingPipeline.made[-1].updates
    assert len(_GpuLosingPipeline.made) == 2
    # ... and a new device choice gives the GPU another chance
    w.update(MatteSettings({"max_masks_per_second": 0.0, "threshold": 0.6, "device": "cuda"}))
    assert _wait(lambda: len(_GpuLosingPipeline.made) == 3, 5.0)
    assert _GpuLosingPipeline.made[-1].device_info.device == "cuda"


def test_the_worker_lives_on_when_the_cpu_cannot_take_the_model_either(losing_gpu, monkeypatch):
    monkeypatch.setattr(_GpuLosingPipeline, "cpu_breaks", True)
    w = losing_gpu(fail_on_gpu=10**9)
    assert _feed_until(w, lambda: w.error is not None and "and on the CPU" in w.error), w.status_text()
    assert "MemoryError: no memory left" in w.error
    assert w.alive, "the worker thread must live on (a setting change can then load a model again)"


def test_a_gpu_that_fails_once_stays(losing_gpu):
    """One failed run (a frame during a driver's mode switch) is an error for that mask, not a lost GPU."""
    w = losing_gpu(fail_on_gpu=MattingWorker.GPU_FAILURES_BEFORE_CPU - 1)
    assert _feed_until(w, lambda: w.latest() is not None), w.status_text()
    assert [p.device_info.device for p in _GpuLosingPipeline.made] == ["cuda"]
    assert w.error is None and "fell back" not in w.status_text()


def test_a_model_that_fails_while_running_raises_an_inference_error():
    """A real session whose run fails (as a lost device's does) gives the error the worker acts on."""
    from obsmatte.errors import InferenceError
    from obsmatte.models import create_matter

    class _LostDevice:
        def __init__(self, session):
            self._session = session

        def run(self, *args, **kwargs):
            raise RuntimeError("D3D12 device removed: DXGI_ERROR_DEVICE_REMOVED\nmore detail")

        def __getattr__(self, name):
            return getattr(self._session, name)

    matter = create_matter("mediapipe_selfie_landscape", "cpu", 1, [paths.MODELS_DIR])
    frame = np.full((144, 256, 3), 100, np.uint8)
    assert matter.predict(frame).shape == (144, 256)
    matter.session = _LostDevice(matter.session)
    with pytest.raises(InferenceError, match=r"mediapipe_selfie_landscape failed to run \(D3D12 device removed"):
        matter.predict(frame)
