"""The filter's OBS glue (obsmatte.obs.filter, registration, graphics) with libobs' calls replaced by fakes: the
decisions that the real-OBS tests cannot isolate or would take minutes to reach."""
from __future__ import annotations

import ctypes as C

import pytest

from conftest import need_tool


@pytest.fixture
def L():
    need_tool("obs", why="the modules load libobs (OBS Studio); ./setup.sh --test installs it")
    from obsmatte.obs import libobs
    return libobs


class FakeLibobs:
    """Every gs_*/obs_* function of obsmatte.obs.libobs replaced by a recorder that returns 0 (or what
    `returns` says); `calls` lists (name, args) in order."""

    def __init__(self, L, monkeypatch):
        self.calls: list[tuple] = []
        self.returns: dict = {}
        for name in dir(L):
            if name.startswith(("gs_", "obs_")) and isinstance(getattr(L, name), C._CFuncPtr):
                monkeypatch.setattr(L, name, self._recorder(name))

    def _recorder(self, name):
        def call(*args):
            self.calls.append((name, args))
            value = self.returns.get(name, 0)
            return value(*args) if callable(value) else value
        return call

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def fake(L, monkeypatch) -> FakeLibobs:
    return FakeLibobs(L, monkeypatch)


@pytest.mark.parametrize("outer", [False, True])
def test_the_filter_path_always_draws_in_linear_light(L, monkeypatch, outer):
    """obs_source_process_filter_tech_end turns linear sRGB on for our sRGB-aware filter whatever the caller's
    state (off for a cropped scene item): the shader must be told linear light on that path."""
    from obsmatte.obs.filter import draws_in_linear_light
    monkeypatch.setattr(L, "gs_get_linear_srgb", lambda: outer)
    assert draws_in_linear_light(sync_video=False) is True


@pytest.mark.parametrize("outer", [False, True])
def test_the_sync_ring_draws_in_the_callers_light(L, monkeypatch, outer):
    """The sync ring's frame we draw ourselves, as libobs' render_filter_tex would: in the caller's state."""
    from obsmatte.obs.filter import draws_in_linear_light
    monkeypatch.setattr(L, "gs_get_linear_srgb", lambda: outer)
    assert draws_in_linear_light(sync_video=True) is outer


def test_the_parent_draws_itself_into_the_temporal_pass_in_linear_light(fake):
    """The temporal guide's direct pass: the parent samples itself as it will in the Draw pass, where libobs
    has turned linear sRGB on; the caller's state (here off) comes back afterwards."""
    from obsmatte.obs.graphics import FilterGraphics
    state = {"linear": False}

    def set_linear(on):
        previous, state["linear"] = state["linear"], on
        return previous
    loops = iter([True, False])
    fake.returns.update(gs_set_linear_srgb=set_linear, gs_effect_loop=lambda *a: next(loops),
                        gs_texrender_begin=1, gs_texrender_get_texture=77,
                        obs_source_video_render=lambda target: fake.calls.append(("linear", state["linear"])))
    g = FilterGraphics("unused.effect")
    g.effect = 5
    assert g._parent_pass(tr=9, target=3, w=64, h=36, technique=b"Temporal") == 77
    assert ("linear", True) in fake.calls
    assert state["linear"] is False


# ------------------------------------------------------------------------------- failing renders
class FailingFilter:
    """A filter instance whose video_render raises while `failing` is set."""

    source = 11

    def __init__(self):
        self.failing = True
        self.renders = self.passed = self.updates = 0
        self.reasons: list = []

    def video_render(self):
        self.renders += 1
        if self.failing:
            raise RuntimeError("boom")

    def pass_through(self):
        self.passed += 1

    def render_failed(self, reason):
        self.reasons.append(reason)

    def update(self, settings):
        self.updates += 1


@pytest.fixture
def registration(L, monkeypatch):
    """The registration module with a registry of its own, a fresh failure log, and the OBS log captured in
    `registration.logged`."""
    import builtins
    from obsmatte.obs import registration as R
    monkeypatch.setattr(builtins, R._REGISTRY_ATTR, R.Registry(), raising=False)
    monkeypatch.setattr(R, "_failures", R.FailureLog())
    logged: list[str] = []
    monkeypatch.setattr(L, "log", lambda level, message: logged.append(message))
    skipped: list[int] = []
    monkeypatch.setattr(L, "skip_video_filter", skipped.append)
    R.logged, R.skipped = logged, skipped
    # OBS's frame clock: by default every render is a new frame; R.clock["auto"] = False holds it on one frame
    R.clock = clock = {"t": 0, "auto": True}

    def frame_time():
        clock["t"] += 1 if clock["auto"] else 0
        return clock["t"]
    monkeypatch.setattr(L, "obs_get_video_frame_time", frame_time)
    return R


def test_a_failure_on_every_frame_logs_its_traceback_once_and_counts_the_repeats(registration):
    R = registration
    render = R._guarded(R._on_video_render)  # as libobs calls it
    key = R.registry().add(FailingFilter())
    R.registry().slots[key].failed_renders = -10_000  # count failures without reaching passthrough here
    for _ in range(1000):
        render(key, None)
    tracebacks = [m for m in R.logged if "Traceback" in m]
    assert len(tracebacks) == 1 and "RuntimeError: boom" in tracebacks[0]
    notes = [m for m in R.logged if "failed again the same way" in m]
    assert [n.split("(")[1].split()[0] for n in notes] == ["10", "100", "1000"]
    assert len(R.skipped) == 1000  # every failed frame still shows the video


def test_a_different_failure_is_logged_too(registration):
    R = registration
    R._failures.record("video_render", "Traceback A")
    R._failures.record("video_render", "Traceback A")
    R._failures.record("video_render", "Traceback B")
    R._failures.record("update", "Traceback A")  # the same text from another callback is its own failure
    assert R.logged == ["video_render failed:\nTraceback A", "video_render failed:\nTraceback B",
                        "update failed:\nTraceback A"]


def test_repeated_failures_switch_the_instance_to_passthrough_until_a_setting_changes(registration):
    R = registration
    render = R._guarded(R._on_video_render)
    instance = FailingFilter()
    key = R.registry().add(instance)
    n = R.FAILED_RENDERS_BEFORE_PASSTHROUGH
    for _ in range(n + 50):
        render(key, None)
    assert instance.renders == n  # then no more attempts: each frame passes the video through
    assert instance.passed == 50
    reason = instance.reasons[-1]
    assert f"failed on {n} frames in a row" in reason and "RuntimeError: boom" in reason
    assert len([m for m in R.logged if "Traceback" in m]) == 1
    # a settings change tries again; it renders now
    instance.failing = False
    R._guarded(R._on_update)(key, None)
    assert instance.reasons[-1] is None
    render(key, None)
    assert instance.renders == n + 1 and instance.passed == 50


def test_passthrough_counts_frames_not_the_views_that_render_each(registration):
    """A source in preview, program and a projector renders three times a frame: 30 failed frames, not 10."""
    R = registration
    render = R._guarded(R._on_video_render)
    instance = FailingFilter()
    key = R.registry().add(instance)
    R.clock["auto"] = False
    for _ in range(R.FAILED_RENDERS_BEFORE_PASSTHROUGH - 1):
        R.clock["t"] += 1
        for _ in range(3):
            render(key, None)
    assert instance.reasons == [] and R.registry().slots[key].passthrough is None
    R.clock["t"] += 1
    render(key, None)
    assert R.registry().slots[key].passthrough is not None


def test_failures_beyond_the_kinds_kept_are_still_logged(registration):
    """A failure whose text varies from frame to frame fills the list of kinds kept; later ones, a new
    callback's included, used to be counted silently."""
    R = registration
    for i in range(R.MAX_DISTINCT_FAILURES):
        R._failures.record("video_render", f"Traceback: size {i}")
    assert len(R.logged) == R.MAX_DISTINCT_FAILURES
    R._failures.record("update", "Traceback: a new failure")
    assert "update failed in yet another way (1 failures" in R.logged[-1] and "a new failure" in R.logged[-1]
    for i in range(9):
        R._failures.record("video_render", f"Traceback: size {1000 + i}")
    assert "(10 failures not listed" in R.logged[-1] and len(R.logged) == R.MAX_DISTINCT_FAILURES + 2


def test_a_good_frame_between_failures_resets_the_count(registration):
    R = registration
    render = R._guarded(R._on_video_render)
    instance = FailingFilter()
    key = R.registry().add(instance)
    for _ in range(5):
        for _ in range(R.FAILED_RENDERS_BEFORE_PASSTHROUGH - 1):
            render(key, None)
        instance.failing = False
        render(key, None)
        instance.failing = True
    assert instance.reasons == [] and R.registry().slots[key].passthrough is None


def test_passthrough_reason_is_the_filters_status(L, monkeypatch):
    """MattingFilter.render_failed: the reason becomes the filter's problem (status line, log once)."""
    from obsmatte.obs.filter import MattingFilter
    logged: list[str] = []
    monkeypatch.setattr(L, "log", lambda level, message: logged.append(message))
    f = MattingFilter.__new__(MattingFilter)  # no OBS source: only the status fields
    f.name, f.logged, f.error, f.worker, f.worker_error, f.settings_problems = "M", set(), None, None, None, []
    f.gfx = type("Gfx", (), {"effect_error": None, "refiner": None, "refined_tex": 0})()
    f.render_failed("rendering failed on 30 frames in a row (RuntimeError: boom)")
    f.render_failed("rendering failed on 30 frames in a row (RuntimeError: boom)")
    assert f.status_text().startswith("Error: rendering failed on 30 frames in a row")
    assert len(logged) == 1
    f.render_failed(None)
    assert f.problem() is None


# ------------------------------------------------------------------------------- destroy
def test_freeing_the_graphics_does_not_wait_for_a_stuck_refine_thread(fake, monkeypatch):
    """FilterGraphics.destroy runs inside the graphics lock: with the refine thread stuck in a job (the first
    stop in MattingFilter.destroy timed out), it must return at once instead of joining it again."""
    import threading
    import time

    import numpy as np

    from obsmatte.obs import refine_thread
    from obsmatte.obs.graphics import FilterGraphics
    started, release = threading.Event(), threading.Event()

    def stuck(*args):
        started.set()
        release.wait(10)
    monkeypatch.setattr(refine_thread, "refine_packed", stuck)
    g = FilterGraphics("unused.effect")
    g.refiner.post("key", np.zeros((4, 4), np.float32), None, 0.0, 0.0, False, (8, 8), False)
    assert started.wait(5)
    try:
        t0 = time.perf_counter()
        g.destroy()
        assert time.perf_counter() - t0 < 0.2
    finally:
        release.set()


# ------------------------------------------------------------------------------- no video_tick
def test_the_filter_registers_no_video_tick(registration, monkeypatch):
    """OBS 29 ticks every source with obs->data.sources_mutex held; a tick callback of ours needs the GIL, which
    another script may hold while it waits for that mutex (obs_enum_sources): a deadlock. So there is none."""
    R = registration
    registered = []
    monkeypatch.setattr(R.L, "obs_register_source_s", lambda info, size: registered.append(size))
    monkeypatch.setattr(R.atexit, "register", lambda fn: None)
    assert R.register(lambda settings, source: None) is True
    info = R.registry().info
    assert registered and not info.video_tick
    assert info.video_render and info.update and info.filter_remove


def test_video_render_does_the_once_a_second_work(fake, L, monkeypatch, tmp_path):
    """The problem goes to the log and the stats file is written from video_render, even on a frame that only
    passes the video through (here: no worker), and not again within the second."""
    import json

    from obsmatte.obs import filter as F
    logged: list[str] = []
    monkeypatch.setattr(L, "log", lambda level, message: logged.append(message))
    monkeypatch.setattr(F, "_worker_class", lambda: (None, "no worker in this test"))
    monkeypatch.setenv("OBSMATTE_STATS_FILE", str(tmp_path / "stats"))
    f = F.MattingFilter(0, 1)
    fake.returns.update(obs_filter_get_target=1, obs_filter_get_parent=2)
    f.video_render()
    [written] = tmp_path.glob("stats.*.json")
    stats = json.loads(written.read_text())
    assert stats["problem"] == "no worker in this test"
    assert sum("no worker in this test — passing video through" in m for m in logged) == 1
    assert "obs_source_skip_video_filter" in fake.names()
    written.unlink()
    f.video_render()
    assert not written.exists()  # within the second: not written again
