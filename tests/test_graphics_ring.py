"""The sync ring ("keep video in sync with the mask", obsmatte.obs.graphics): which stored frame is drawn with a
mask. The OBS tests show a still image, where any frame of the ring looks the same; here the frames have
distinct timestamps and textures, without OBS: graphics runs against a stand-in for libobs (its import loads
libobs.so), of which the ring only needs gs_texrender_create and gs_texrender_get_texture."""
from __future__ import annotations

import importlib.util
import itertools
import sys
import types

import pytest

FPS = 30.0


def _texture(tr: int) -> int:
    """The stand-in's texture of texrender `tr`: a different number, so a test sees which one came back."""
    return 1000 + tr


@pytest.fixture
def graphics(monkeypatch):
    import obsmatte.obs as package
    stub = types.ModuleType("obsmatte.obs.libobs")
    stub.Vec2 = stub.Vec4 = lambda *xyzw: xyzw
    stub.GS_RGBA, stub.GS_ZS_NONE = 3, 0
    ids = itertools.count(1)
    stub.gs_texrender_create = lambda fmt, zs: next(ids)
    stub.gs_texrender_get_texture = _texture
    stub.gs_texrender_destroy = lambda tr: None
    monkeypatch.setitem(sys.modules, "obsmatte.obs.libobs", stub)
    monkeypatch.setattr(package, "libobs", stub, raising=False)  # `from . import libobs` reads it here first
    # a fresh copy of the module, in sys.modules only for this test (its dataclasses look themselves up
    # there): the graphics other tests import is never the one bound to the stand-in
    spec = importlib.util.find_spec("obsmatte.obs.graphics")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.L is stub
    return module


def _ring(graphics, entries):
    g = graphics.FilterGraphics("unused.effect")  # the ring needs no effect: nothing is drawn
    g.ring = [list(e) for e in entries]
    return g


def test_pick_is_the_newest_frame_not_newer_than_the_mask(graphics):
    # six frames at 30 fps, in the slot order a ring has after it wrapped (oldest in the middle), one per slot
    times = [10.0 + k / FPS for k in range(6)]
    slots = [3, 4, 5, 0, 1, 2]
    g = _ring(graphics, [(100 + k, times[k]) for k in slots])
    tex = {k: _texture(100 + k) for k in range(6)}
    # the mask of frame 2 computed while frames 3-5 arrived: frame 2, not the newest (5) nor the oldest (0)
    assert g.ring_pick(times[2]) == tex[2]
    assert g.ring_pick(times[2] + 0.5 / FPS) == tex[2]  # half a frame later: still frame 2, never frame 3
    assert g.ring_pick(times[3] - 0.002) == tex[2]  # 2 ms before frame 3: frame 3 is newer than the mask
    assert g.ring_pick(times[5] + 1.0) == tex[5]  # a mask newer than every stored frame: the newest
    assert g.ring_matched
    # every stored frame newer than the mask (a mask older than the ring): the oldest, the nearest there is,
    # and the filter's stats count a frame shown ahead of its mask
    assert g.ring_pick(times[0] - 1.0) == tex[0]
    assert not g.ring_matched


def test_frames_whose_copy_failed_are_never_picked(graphics):
    # ring_push marks a slot whose copy failed with timestamp -1: older than anything, but no picture
    g = _ring(graphics, [(7, -1.0), (8, 20.0), (9, 20.0 + 1 / FPS)])
    assert g.ring_pick(19.0) == _texture(8)  # the oldest real frame, not the failed slot
    assert g.ring_pick(20.0) == _texture(8)
    assert g.ring_pick(25.0) == _texture(9)


def test_an_empty_ring_gives_no_texture(graphics, monkeypatch):
    """Documented: 0 when there is nothing to pick (the caller then draws the live frame)."""
    assert _ring(graphics, []).ring_pick(10.0) == 0
    assert _ring(graphics, [(5, -1.0), (6, -1.0)]).ring_pick(10.0) == 0  # only failed copies
    monkeypatch.setattr(graphics.L, "gs_texrender_get_texture", lambda tr: None)  # a texrender never drawn
    assert _ring(graphics, [(5, 10.0)]).ring_pick(10.0) == 0


def test_ring_push_keeps_the_last_frames_and_pick_finds_the_masks_frame(graphics, monkeypatch):
    """Ten frames through ring_push (it wraps after SYNC_RING_SIZE): a mask two frames behind gets its own
    frame; a mask of a frame already overwritten gets the oldest frame still kept."""
    g = graphics.FilterGraphics("unused.effect")
    monkeypatch.setattr(g, "_render_parent_into", lambda *args: True)  # the copy itself is OBS's work
    size = graphics.SYNC_RING_SIZE
    times = [50.0 + k / FPS for k in range(size + 4)]
    texture_of_frame = {}
    for k, t in enumerate(times):
        g.ring_push(target=1, parent=1, w=64, h=36, timestamp=t)
        assert len(g.ring) == min(k + 1, size)
        texture_of_frame[k] = _texture(next(tr for tr, when in g.ring if when == t))
        if k >= 2:
            assert g.ring_pick(times[k - 2]) == texture_of_frame[k - 2], k  # the mask's frame, not the newest
        assert g.ring_pick(t) == texture_of_frame[k]  # the mask of the frame just stored
    assert len(set(texture_of_frame.values())) == size  # slots reused, no new texrender per frame
    oldest_kept = len(times) - size
    assert g.ring_pick(times[oldest_kept - 1]) == texture_of_frame[oldest_kept]
