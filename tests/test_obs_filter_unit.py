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
