"""GPU objects of one filter instance and the passes that use them. Call only in graphics context.

Cost model (llvmpipe, no GPU): every full-resolution pass costs several ms, every texture sample
counts, float and sRGB-decoded textures take a slow path, and every switch of render target makes
llvmpipe finish the previous target's work there and then. So:
- the output is ONE full-size pass (a Draw* technique of effects/matte.effect, through libobs' filter
  path with direct rendering) reading the image, ONE small RGBA16 texture holding the refined mask
  (fast_guided.pack: the colour guided filter's coefficients, applied against the full-size frame) and,
  for blur, a small pre-blurred background;
- the refinement (erode/dilate, colour guided or blur feather) runs on the CPU at the mask's size, once
  per new mask (~2 ms, on a helper thread: refine_thread), with the frame the mask came from as the
  guide: no GPU pass at all;
- the blurred background follows the video: two tiny passes per frame at 1/8 of the output size;
- the model's input is the parent drawn into a small texrender (a GPU downscale), staged only on the
  frames the worker will take (stage_pacer) and mapped one frame later, never waited for;
- sync ring: optional full-size copies of the last few frames, to show the frame a mask belongs to;
- steady edges' temporal guide (temporal_guide): the parent drawn into a full-size texrender (or the sync
  ring's frame), one Temporal pass into a pair of RGBA16 texrenders (ping-pong), read by Draw*Temporal.
"""
from __future__ import annotations

import ctypes as C
from collections import deque
from dataclasses import dataclass

import numpy as np

from . import libobs as L
from . import renderer
from ..fast_guided import COEF_RANGE, TEMPORAL_KEEP, Refined, motion_gate
from .pause import PAUSE_FLOOR_S
from .refine_thread import RefineThread
from .stage_pacer import StagePacer

PARAMS = ("image", "alpha_tex", "src", "bg_tex", "texel", "sigma", "coef_range", "edge_ramp", "bg_color",
          "linear_out", "bg_uv_scale", "image_texel", "prev_guide", "guide_tex", "temporal_keep", "motion_lo",
          "motion_hi")
DRAW_TECHNIQUES = {"transparent": b"DrawTransparent", "color": b"DrawColor", "blur": b"DrawBlur",
                   "image": b"DrawImage"}
SYNC_RING_SIZE = 6
# The temporal guide starts over (G = I) after a gap of FilterGraphics.gap_s without a frame (the filter was
# disabled or its source hidden: video_render is not called then; the filter sets the gap from the frame rate,
# pause.PauseDetector) and after a size change.
POSTED_KEEP = 4  # frames posted to the worker kept as guides (a mask arrives a frame or two later)
GS_BLEND_INVSRCALPHA = 5  # libobs enum value (checked against obspython of OBS 29)


@dataclass
class StagedFrame:
    pixels: np.ndarray  # RGBA uint8, a view without row padding
    frame_id: int
    timestamp: float


def srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


class FilterGraphics:
    def __init__(self, effect_path: str):
        self.effect_path = effect_path
        self.effect = 0
        self.effect_error: str | None = None
        self.params: dict[str, int] = {}
        self.renderer: str | None = None  # GL_RENDERER (OpenGL only), read when the effect loads
        self.small = 0
        self.small_size = (0, 0)
        self.small_valid = False
        self.stages = [0, 0]
        self.stage_size = (0, 0)
        self.stage_index = 0
        self.pending: tuple[int, int, float] | None = None  # (stage index, frame id, timestamp)
        self.to_stage: tuple[int, float] | None = None  # the small copy rendered last frame, to stage
        self.ring_matched = False  # ring_pick found a frame as old as the mask
        self.refined_tex = 0  # RGBA16 at the mask's size (fast_guided.pack)
        self.refined_size = (0, 0)
        self.refined_ramp = 0.0  # the re-sharpening ramp that goes with the texture (fast_guided.Refined)
        self.refined_noise: float | None = None  # the guide's noise that goes with it (the temporal gate)
        self.parent_full = 0  # RGBA8 full-size copy of the parent (the temporal guide's input)
        self.guide = [0, 0]  # RGBA16 full-size: G of the last frame and the one being drawn (ping-pong)
        self.guide_index = 0  # which of self.guide holds the last G
        self.guide_valid = False  # self.guide[guide_index] holds a G of this size, drawn recently
        self.guide_size = (0, 0)
        self.guide_time = 0.0
        self.gap_s = PAUSE_FLOOR_S  # a longer gap since the last guide makes it stale (set per frame by the filter)
        self.temporal_error: str | None = None  # set once the temporal path failed: it stays off
        self.posted: deque[StagedFrame] = deque(maxlen=POSTED_KEEP)
        self.blur = [0, 0]  # RGBA8 at half the small copy's size (1/8 of 1280x720): horizontal, vertical
        self.bg_image = 0
        self.bg_image_path = ""
        self.bg_image_size = (0, 0)
        self.ring: list[list] = []  # [texrender, timestamp]
        self.ring_next = 0
        self._clear_color = L.Vec4(0, 0, 0, 0)
        self.pacer = StagePacer()
        self.refiner = RefineThread()

    # ---------------------------------------------------------------------------------- lifetime
    def ensure_effect(self) -> bool:
        if self.effect or self.effect_error:
            return bool(self.effect)
        err = C.c_char_p()
        self.effect = L.gs_effect_create_from_file(self.effect_path.encode(), C.byref(err)) or 0
        if not self.effect:
            detail = err.value.decode("utf-8", "replace").strip() if err.value else "unknown error"
            self.effect_error = f"cannot load the shader {self.effect_path}: {detail.splitlines()[0] if detail else ''}"
            return False
        for name in PARAMS:
            self.params[name] = L.gs_effect_get_param_by_name(self.effect, name.encode()) or 0
        self.renderer = renderer.opengl_renderer()
        return True

    def _texrenders(self) -> list[int]:
        return [self.small, *self.blur, self.parent_full, *self.guide, *(entry[0] for entry in self.ring)]

    def destroy(self) -> None:
        # Runs inside the graphics context (OBS renders under that lock): only ask the refine thread to stop.
        # MattingFilter.destroy has already waited for it, outside the lock; if that wait timed out, joining
        # again here would stall OBS's rendering for up to another second.
        self.refiner.stop(timeout=0)
        for s in self.stages:
            if s:
                L.gs_stagesurface_destroy(s)
        for tr in self._texrenders():
            if tr:
                L.gs_texrender_destroy(tr)
        for tex in (self.refined_tex, self.bg_image):
            if tex:
                L.gs_texture_destroy(tex)
        if self.effect:
            L.gs_effect_destroy(self.effect)
        self.__init__(self.effect_path)

    def free_size_dependent(self) -> None:
        """The source changed size: drop what was sized for it (recreated on demand)."""
        for s in self.stages:
            if s:
                L.gs_stagesurface_destroy(s)
        self.stages, self.stage_size, self.pending, self.to_stage = [0, 0], (0, 0), None, None
        self.small_valid = False
        self.guide_valid = False
        self.drop_ring()

    def drop_ring(self) -> None:
        for entry in self.ring:
            L.gs_texrender_destroy(entry[0])
        self.ring, self.ring_next = [], 0

    # ------------------------------------------------------------------------------- parent copy
    def _render_parent_into(self, tr: int, target: int, parent: int, src_w: int, src_h: int, w: int, h: int) -> bool:
        L.gs_texrender_reset(tr)
        if not L.gs_texrender_begin(tr, w, h):
            return False
        L.gs_clear(L.GS_CLEAR_COLOR, C.byref(self._clear_color), 0.0, 0)
        L.gs_ortho(0.0, float(src_w), 0.0, float(src_h), -100.0, 100.0)
        L.gs_blend_state_push()
        L.gs_blend_function(L.GS_BLEND_ONE, L.GS_BLEND_ZERO)
        flags = L.obs_source_get_output_flags(parent)
        if target == parent and not flags & (L.OBS_SOURCE_CUSTOM_DRAW | L.OBS_SOURCE_ASYNC):
            # libobs' own rule: such sources draw with whatever effect is active, so give them one
            default_effect = L.obs_get_base_effect(L.OBS_EFFECT_DEFAULT)
            while L.gs_effect_loop(default_effect, b"Draw"):
                L.obs_source_video_render(target)
        else:
            L.obs_source_video_render(target)
        L.gs_blend_state_pop()
        L.gs_texrender_end(tr)
        return True

    def render_small(self, target: int, parent: int, src_w: int, src_h: int, w: int, h: int) -> int:
        if not self.small:
            self.small = L.gs_texrender_create(L.GS_RGBA, L.GS_ZS_NONE) or 0
            if not self.small:
                return 0
        self.small_size = (w, h)
        self.small_valid = self._render_parent_into(self.small, target, parent, src_w, src_h, w, h)
        return self.small_texture()

    def small_texture(self) -> int:
        return (L.gs_texrender_get_texture(self.small) or 0) if self.small and self.small_valid else 0

    def stage(self, tex: int, w: int, h: int, frame_id: int, timestamp: float) -> bool:
        """Start copying `tex` to the CPU side; read_staged() on a later frame returns it."""
        if self.stage_size != (w, h):
            for s in self.stages:
                if s:
                    L.gs_stagesurface_destroy(s)
            self.stages = [L.gs_stagesurface_create(w, h, L.GS_RGBA) or 0 for _ in range(2)]
            self.stage_size, self.pending = (w, h), None
        i = self.stage_index
        self.stage_index ^= 1
        if not self.stages[i]:
            return False
        L.gs_stage_texture(self.stages[i], tex)
        self.pending = (i, frame_id, timestamp)
        return True

    def stage_rendered(self) -> bool:
        """Stage the small copy rendered on the previous frame (see filter.video_render)."""
        if self.to_stage is None:
            return False
        frame_id, timestamp = self.to_stage
        self.to_stage = None
        tex = self.small_texture()
        w, h = self.small_size
        return bool(tex) and self.stage(tex, w, h, frame_id, timestamp)

    def read_staged(self) -> StagedFrame | None:
        """The copy stage() started on an earlier frame (the GPU has finished it), or None."""
        if self.pending is None:
            return None
        i, frame_id, timestamp = self.pending
        self.pending = None
        w, h = self.stage_size
        data, linesize = L.u8p(), L.u32()
        if not self.stages[i] or not L.gs_stagesurface_map(self.stages[i], C.byref(data), C.byref(linesize)):
            return None
        try:
            pitch = linesize.value
            buf = np.empty((h, pitch // 4, 4), np.uint8)
            # copy BEFORE unmap: the mapped pointer is invalid afterwards
            L.memmove_keep_gil(buf.ctypes.data, C.cast(data, C.c_void_p).value, pitch * h)
        finally:
            L.gs_stagesurface_unmap(self.stages[i])
        return StagedFrame(buf[:, :w], frame_id, timestamp)

    # ------------------------------------------------------------------------------------- mask
    def remember_posted(self, frame: StagedFrame) -> None:
        """Keep the last few frames posted to the worker: a mask's guide is the frame it came from."""
        self.posted.append(frame)

    def frame_for(self, frame_id: int) -> np.ndarray | None:
        for f in reversed(self.posted):
            if f.frame_id == frame_id:
                return f.pixels
        return self.posted[-1].pixels if self.posted else None

    def upload_refined(self, refined: Refined) -> int:
        """Upload the packed refined mask (fast_guided.pack: RGBA uint16 at the mask's size)."""
        packed = np.ascontiguousarray(refined.texture, dtype=np.uint16)
        h, w = packed.shape[:2]
        if self.refined_size != (w, h):
            if self.refined_tex:
                L.gs_texture_destroy(self.refined_tex)
            self.refined_tex = L.gs_texture_create(w, h, L.GS_RGBA16, 1, None, L.GS_DYNAMIC) or 0
            self.refined_size = (w, h) if self.refined_tex else (0, 0)  # a failed creation is tried again
        if self.refined_tex:
            L.gs_texture_set_image(self.refined_tex, packed.ctypes.data, w * 8, False)
            self.refined_ramp = refined.ramp
            self.refined_noise = refined.guide_noise
        return self.refined_tex

    def forget_frames(self) -> None:
        """Drop every picture kept from earlier frames (the sync ring, the staged copy waiting to be read or
        staged), after a gap in rendering: they show the source as it was before the gap."""
        self.drop_ring()
        self.pending, self.to_stage = None, None
        self.small_valid = False

    def current_guide(self) -> int:
        """The temporal guide drawn earlier in this frame, for another render of the same frame, or 0."""
        if not self.guide_valid or not self.guide[self.guide_index]:
            return 0
        return L.gs_texrender_get_texture(self.guide[self.guide_index]) or 0

    def forget_mask(self) -> None:
        if self.refined_tex:
            L.gs_texture_destroy(self.refined_tex)
        self.refined_tex, self.refined_size = 0, (0, 0)
        self.posted.clear()

    # ------------------------------------------------------------------------------ small passes
    def _pass(self, tr: int, w: int, h: int, technique: bytes) -> int:
        L.gs_texrender_reset(tr)
        if not L.gs_texrender_begin(tr, w, h):
            return 0
        L.gs_ortho(0.0, float(w), 0.0, float(h), -100.0, 100.0)
        L.gs_blend_state_push()
        L.gs_blend_function(L.GS_BLEND_ONE, L.GS_BLEND_ZERO)  # every pixel is written: no clear needed
        srgb_was = L.gs_framebuffer_srgb_enabled()
        L.gs_enable_framebuffer_srgb(False)  # store exactly what the shader returns
        while L.gs_effect_loop(self.effect, technique):
            L.gs_draw_sprite(None, 0, w, h)
        L.gs_enable_framebuffer_srgb(srgb_was)
        L.gs_blend_state_pop()
        L.gs_texrender_end(tr)
        return L.gs_texrender_get_texture(tr) or 0

    def blur_background(self, strength: float, linear: bool, out_w: int) -> int:
        """Normalised blur of this frame's small copy weighted by 1 - alpha, at half the copy's size.

        Output: RGB = the blurred colour (sqrt of output space in linear mode), A = the blurred weight.
        """
        small_tex = self.small_texture()
        if not small_tex or not self.refined_tex:
            return 0
        for k in range(2):
            if not self.blur[k]:
                self.blur[k] = L.gs_texrender_create(L.GS_RGBA, L.GS_ZS_NONE) or 0
                if not self.blur[k]:
                    return 0
        sw, sh = self.small_size
        w, h = max(1, sw // 2), max(1, sh // 2)
        p = self.params
        L.gs_effect_set_vec2(p["texel"], C.byref(L.Vec2(1.0 / sw, 1.0 / h)))  # BlurH reads the small copy
        L.gs_effect_set_float(p["sigma"], max(strength / 2.0, 0.01) * sw / float(out_w))  # compose: strength / 2
        L.gs_effect_set_texture(p["src"], small_tex)
        self._set_matte_params()
        horizontal = self._pass(self.blur[0], w, h, b"BlurH")
        L.gs_effect_set_vec2(p["texel"], C.byref(L.Vec2(1.0 / w, 1.0 / h)))
        L.gs_effect_set_float(p["sigma"], max(strength / 2.0, 0.01) * w / float(out_w))
        L.gs_effect_set_float(p["linear_out"], 1.0 if linear else 0.0)
        L.gs_effect_set_texture(p["src"], horizontal)
        return self._pass(self.blur[1], w, h, b"BlurV")

    def background_image(self, path: str) -> tuple[int, str | None]:
        """The image texture for `path` (loaded once per path) or (0, reason)."""
        if path != self.bg_image_path:
            if self.bg_image:
                L.gs_texture_destroy(self.bg_image)
            self.bg_image_path = path
            self.bg_image = L.gs_texture_create_from_file(path.encode()) if path else 0
            self.bg_image = self.bg_image or 0
            self.bg_image_size = ((L.gs_texture_get_width(self.bg_image), L.gs_texture_get_height(self.bg_image))
                                  if self.bg_image else (0, 0))
        if not self.bg_image:
            return 0, ("no background image chosen" if not path else f"cannot load background image: {path}")
        return self.bg_image, None

    # ------------------------------------------------------------------------------ temporal guide
    def temporal_guide(self, target: int, parent: int, w: int, h: int, frame_tex: int, linear: bool,
                       now: float, direct: bool = False) -> int:
        """This frame's temporal guide G (fast_guided.TemporalGuide on the GPU): a full-size RGBA16
        texture for Draw*Temporal, or 0 (then draw with the spatial guide alone).

        direct (the parent draws itself through our effect, as libobs' direct rendering does): the
        parent is drawn straight through the Temporal pass, so it samples the frame exactly as the Draw
        pass will and there is no full-size copy. Otherwise frame_tex is the full-size frame when there
        is one already (sync ring), else the parent is drawn into parent_full first. Measured on llvmpipe
        (tools/bench_obs.py, forced on, one run each): the copy alone, with no Temporal pass at all, took
        OBS's frame to ~70 ms (the spatial guide alone: ~50 ms); the direct Temporal pass costs ~35 ms a
        720p frame there (84 vs 49 ms), nothing to speak of on a GPU.
        linear: the Draw pass reads the frame in linear light (the copy is then sampled sRGB-decoded)."""
        if self.temporal_error:
            return 0
        for k in range(2):
            if not self.guide[k]:
                self.guide[k] = L.gs_texrender_create(L.GS_RGBA16, L.GS_ZS_NONE) or 0
                if not self.guide[k]:
                    self.temporal_error = "cannot create a 16-bit render target for the temporal guide"
                    return 0
        if not direct and not frame_tex:
            if not self.parent_full:
                self.parent_full = L.gs_texrender_create(L.GS_RGBA, L.GS_ZS_NONE) or 0
            if not self.parent_full or not self._render_parent_into(self.parent_full, target, parent, w, h, w, h):
                return 0  # a frame without the copy: the spatial guide this once
            frame_tex = L.gs_texrender_get_texture(self.parent_full) or 0
            if not frame_tex:
                return 0
        if self.guide_size != (w, h) or now - self.guide_time > self.gap_s:
            self.guide_valid = False
        p = self.params
        if not direct:
            if linear:
                L.gs_effect_set_texture_srgb(p["image"], frame_tex)
            else:
                L.gs_effect_set_texture(p["image"], frame_tex)
        L.gs_effect_set_vec2(p["image_texel"], C.byref(L.Vec2(1.0 / w, 1.0 / h)))
        L.gs_effect_set_float(p["linear_out"], 1.0 if linear else 0.0)
        lo, hi = motion_gate(self.refined_noise)
        L.gs_effect_set_float(p["temporal_keep"], TEMPORAL_KEEP)
        L.gs_effect_set_float(p["motion_lo"], lo)
        L.gs_effect_set_float(p["motion_hi"], hi)
        previous = self.guide_index
        out = previous ^ 1
        if self.guide_valid:
            prev_tex = L.gs_texrender_get_texture(self.guide[previous]) or 0
            if not prev_tex:
                self.guide_valid = False
            else:
                L.gs_effect_set_texture(p["prev_guide"], prev_tex)
        technique = b"Temporal" if self.guide_valid else b"TemporalStart"
        if direct:
            g = self._parent_pass(self.guide[out], target, w, h, technique)
        else:
            g = self._pass(self.guide[out], w, h, technique)
        if not g:
            self.guide_valid = False
            self.temporal_error = "the temporal guide's pass failed"
            return 0
        self.guide_index, self.guide_valid, self.guide_size, self.guide_time = out, True, (w, h), now
        return g

    def _parent_pass(self, tr: int, target: int, w: int, h: int, technique: bytes) -> int:
        """A full-size pass of our effect with the parent drawing itself into it (the source binds its
        texture to `image`, sRGB-decoded when it renders in linear light, and draws its sprite: libobs'
        direct rendering). RGBA16 is not an sRGB format: what the shader returns is stored as it is."""
        L.gs_texrender_reset(tr)
        if not L.gs_texrender_begin(tr, w, h):
            return 0
        L.gs_clear(L.GS_CLEAR_COLOR, C.byref(self._clear_color), 0.0, 0)
        L.gs_ortho(0.0, float(w), 0.0, float(h), -100.0, 100.0)
        L.gs_blend_state_push()
        L.gs_blend_function(L.GS_BLEND_ONE, L.GS_BLEND_ZERO)
        srgb_was = L.gs_framebuffer_srgb_enabled()
        L.gs_enable_framebuffer_srgb(False)
        # as obs_source_process_filter_tech_end does for our sRGB-aware filter before the Draw pass: a parent
        # that follows linear_srgb then samples itself here as it will there
        linear_was = L.gs_set_linear_srgb(True)
        while L.gs_effect_loop(self.effect, technique):
            L.obs_source_video_render(target)
        L.gs_set_linear_srgb(linear_was)
        L.gs_enable_framebuffer_srgb(srgb_was)
        L.gs_blend_state_pop()
        L.gs_texrender_end(tr)
        return L.gs_texrender_get_texture(tr) or 0

    # ---------------------------------------------------------------------------------- Draw pass
    @staticmethod
    def technique(mode: str, steady: bool = False, temporal: bool = False) -> bytes:
        """The Draw technique for a background mode; steady: its twin with the denoised guide; temporal:
        its twin reading the temporal guide (guide_tex)."""
        return DRAW_TECHNIQUES.get(mode, b"DrawTransparent") + (b"Temporal" if temporal else b"Steady" if steady else b"")

    def _set_matte_params(self) -> None:
        """The refined mask and how to decode it (matte.effect's matte_alpha)."""
        p = self.params
        L.gs_effect_set_texture(p["alpha_tex"], self.refined_tex)
        L.gs_effect_set_float(p["coef_range"], COEF_RANGE)
        L.gs_effect_set_float(p["edge_ramp"], self.refined_ramp)

    def set_draw_params(self, color_rgb: tuple[int, int, int], linear: bool, bg: int,
                        bg_uv_scale: tuple[float, float], size: tuple[int, int], guide: int = 0) -> None:
        """size: the frame's (w, h), for the denoised guide's half-pixel samples; guide: the temporal
        guide's texture (Draw*Temporal)."""
        p = self.params
        self._set_matte_params()
        if guide:
            L.gs_effect_set_texture(p["guide_tex"], guide)
        L.gs_effect_set_vec2(p["image_texel"], C.byref(L.Vec2(1.0 / max(size[0], 1), 1.0 / max(size[1], 1))))
        r, g, b = (c / 255.0 for c in color_rgb)
        if linear:  # the colour as typed is sRGB-encoded; converted once here, not per pixel
            r, g, b = srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b)
        L.gs_effect_set_vec4(p["bg_color"], C.byref(L.Vec4(r, g, b, 1.0)))
        L.gs_effect_set_float(p["linear_out"], 1.0 if linear else 0.0)
        L.gs_effect_set_texture(p["bg_tex"], bg or None)
        L.gs_effect_set_vec2(p["bg_uv_scale"], C.byref(L.Vec2(*bg_uv_scale)))

    def draw_texture(self, tex: int, w: int, h: int, technique: bytes) -> None:
        """Draw a full-size copy through the Draw pass ourselves (sync ring), like libobs' filter path."""
        linear = bool(L.gs_get_linear_srgb())
        previous = L.gs_framebuffer_srgb_enabled()
        L.gs_enable_framebuffer_srgb(linear)
        L.gs_blend_state_push()
        L.gs_blend_function(L.GS_BLEND_ONE, GS_BLEND_INVSRCALPHA)  # our output is premultiplied
        if linear:
            L.gs_effect_set_texture_srgb(self.params["image"], tex)
        else:
            L.gs_effect_set_texture(self.params["image"], tex)
        while L.gs_effect_loop(self.effect, technique):
            L.gs_draw_sprite(tex, 0, w, h)
        L.gs_blend_state_pop()
        L.gs_enable_framebuffer_srgb(previous)

    # ---------------------------------------------------------------------------------- sync ring
    def ring_push(self, target: int, parent: int, w: int, h: int, timestamp: float) -> None:
        if len(self.ring) < SYNC_RING_SIZE:
            self.ring.append([L.gs_texrender_create(L.GS_RGBA, L.GS_ZS_NONE), -1.0])
            slot = len(self.ring) - 1
        else:
            slot = self.ring_next
            self.ring_next = (self.ring_next + 1) % SYNC_RING_SIZE
        entry = self.ring[slot]
        if entry[0] and self._render_parent_into(entry[0], target, parent, w, h, w, h):
            entry[1] = timestamp
        else:
            entry[1] = -1.0

    def ring_pick(self, timestamp: float) -> int:
        """The newest stored frame not newer than `timestamp` (else the oldest), or 0. ring_matched: whether
        a stored frame was as old as `timestamp` (else the video is ahead of its mask)."""
        best, best_t, oldest, oldest_t = 0, -1.0, 0, float("inf")
        for tr, t in self.ring:
            if t < 0:
                continue
            if t <= timestamp + 1e-4 and t > best_t:
                best, best_t = tr, t
            if t < oldest_t:
                oldest, oldest_t = tr, t
        chosen = best or oldest
        self.ring_matched = bool(best)
        return (L.gs_texrender_get_texture(chosen) or 0) if chosen else 0
