"""obsmatte.obs.pause: a pause in rendering (the source hidden, the filter off) told from the normal gap between
frames, at any frame rate, on a fake clock (the frame times OBS would report)."""
from __future__ import annotations

from obsmatte.obs.pause import PAUSE_FLOOR_S, PauseDetector


def _pauses(frame_times: list[float], interval_s: float, detector: PauseDetector | None = None) -> list[int]:
    """Indices of the frames the detector calls a pause."""
    detector = detector or PauseDetector()
    return [i for i, t in enumerate(frame_times) if detector.is_pause(t, interval_s)]


def _steady(fps: float, n: int, start: float = 100.0) -> list[float]:
    return [start + k / fps for k in range(n)]


def test_no_frame_is_a_pause_at_any_steady_frame_rate():
    """A timelapse setup at 1-3 fps: with a fixed 0.25 s gap every frame was a pause (no mask ever came)."""
    for fps in (60.0, 30.0, 10.0, 3.0, 2.0, 1.0, 0.5):
        assert _pauses(_steady(fps, 50), 1.0 / fps) == [], fps


def test_a_hidden_source_is_a_pause_at_30_fps_as_before():
    times = _steady(30.0, 30) + _steady(30.0, 30, start=100.0 + 29 / 30 + 0.3)  # 0.3 s without a render
    assert _pauses(times, 1 / 30) == [30]
    # a few frames OBS skipped (lag) are no pause; the floor keeps the old 0.25 s at high frame rates
    assert _pauses(_steady(30.0, 10) + [100.0 + 9 / 30 + 0.2], 1 / 30) == []
    assert PauseDetector().threshold(1 / 120) == PAUSE_FLOOR_S


def test_a_pause_at_two_frames_a_second_is_several_frames_long():
    times = _steady(2.0, 10) + _steady(2.0, 10, start=100.0 + 4.5 + 3.0)  # 3 s without a render
    assert _pauses(times, 0.5) == [10]
    assert _pauses(_steady(2.0, 10) + [100.0 + 4.5 + 1.0], 0.5) == []  # one frame skipped: no pause


def test_an_obs_that_lags_steadily_is_no_pause_after_the_first_gap():
    """OBS set to 30 fps that only manages 3 (it skips frames): the typical gap is learned from the frames."""
    assert _pauses(_steady(3.0, 40), 1 / 30) == [1]
    times = _steady(3.0, 20) + _steady(3.0, 5, start=100.0 + 19 / 3 + 5.0)  # and then a 5 s pause
    assert _pauses(times, 1 / 30) == [1, 20]


def test_the_first_frame_and_a_clock_going_back_are_no_pause():
    detector = PauseDetector()
    assert not detector.is_pause(1000.0, 1 / 30)
    assert not detector.is_pause(5.0, 1 / 30)  # OBS's video restarted (a new clock origin)
    assert not detector.is_pause(5.0 + 1 / 30, 1 / 30)
