"""One "AI Background Matting" filter instance: settings in, frames to the worker, masks to the GPU.

The graphics thread never waits for inference: video_render posts the newest small frame to the worker
and draws with the newest mask it has. Whatever goes wrong (missing model, failing device, zero-size
source, shader error) the video passes through unchanged and the reason goes to the status line and,
once per distinct message, to the OBS log.

Threads: create and get_properties come from the UI or obs-websocket threads; update too on creation,
but later updates libobs defers to the graphics thread (a video source's update runs in its tick), as it
does video_render; destroy comes from the destruction thread. There is no video_tick: its once-a-second
work runs in video_render (see registration for why). obs_data is not thread-safe and the dialog and
obs-websocket write it on their own threads, so the render path never writes it, and an update writes only
what a change over obs-websocket implies (a chosen preset's values, the 'Custom' label): the dialog's own
callbacks write those on its thread first, so an update after a change in the dialog finds nothing to
write. The status therefore lives in the properties dialog (built fresh by get_properties, rewritten by
Refresh status), in the OBS log (problems, once each) and in the optional OBSMATTE_STATS_FILE json.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from collections import deque

from .. import paths
from ..settings import MatteSettings
from . import libobs as L
from . import properties, renderer
from .convert import (CUSTOM_PRESET, PRESET_KEY, effective_preset, preset_values_to_fill, preset_values_to_write,
                      settings_from_values, values_that_differ)
from .graphics import FilterGraphics
from .pause import PauseDetector

EFFECT_PATH = str(paths.EFFECTS_DIR / "matte.effect")
STEPS = ("small_render", "stage", "map_copy", "upload", "refine", "main_draw", "total")
STATUS_EVERY_S = 1.0
STATS_EVERY_S = 1.0
UNSAFE_IN_FILE_NAME = str.maketrans({c: "_" for c in '/\\:*?"<>|'})


def _worker_class():
    """MattingWorker, or a message naming what to install (numpy/onnxruntime/cv2 missing)."""
    try:
        from ..worker import MattingWorker
        return MattingWorker, None
    except ImportError as e:
        return None, (f"missing Python package ({e.name or e}): install numpy, onnxruntime and "
                      f"opencv-python into the Python OBS uses")


def draws_in_linear_light(sync_video: bool) -> bool:
    """Whether this frame's Draw pass reads the frame in linear light: the shader's linear_out, the colour's
    conversion and the refinement's guide must all say the same.

    Through libobs' filter path always: obs_source_process_filter_tech_end turns linear sRGB on for a filter
    registered with OBS_SOURCE_SRGB (ours is) whatever the caller's state, both when the parent draws itself
    through our effect and when libobs samples its intermediate texture (libobs/obs-source.c, OBS 29-31). The
    caller's state is off where OBS renders the item into a texture of its own (a cropped or scaled item, a
    non-normal blend mode) and in obs-websocket's screenshots. The sync ring's frames we draw ourselves
    (draw_texture), following the caller's state as libobs' render_filter_tex does."""
    if sync_video:
        return bool(L.gs_get_linear_srgb())
    return True


class StepTimes:
    """Graphics-thread milliseconds per step over the last few hundred frames."""

    def __init__(self, keep: int = 600):
        self.samples = {k: deque(maxlen=keep) for k in STEPS}

    def add(self, **ms: float) -> None:
        for k, v in ms.items():
            self.samples[k].append(v)

    def summary(self) -> dict:
        out = {}
        for k, values in self.samples.items():
            if values:
                s = sorted(values)
                out[k] = {"median": s[len(s) // 2], "p99": s[min(len(s) - 1, int(len(s) * 0.99))], "n": len(s)}
        return out


class MattingFilter:
    def __init__(self, settings_data: int, source: int):
        self.source = source
        self.name = "?"
        self.settings = MatteSettings()
        self.preset = CUSTOM_PRESET
        self.settings_problems: list[str] = []
        self.gfx = FilterGraphics(EFFECT_PATH)
        self.frame_id = 0
        self.source_size = (0, 0)
        self.error: str | None = None  # the filter's own (not the worker's) reason for passthrough
        self.logged: set[str] = set()
        self.times = StepTimes()
        self.parent_name = ""
        self.status_due = 0.0
        self.stats_due = 0.0
        self.stats_file = os.environ.get("OBSMATTE_STATS_FILE", "")
        self.destroyed = False
        self.refined_key = None
        self.temporal_active = False  # the last frame drew with the temporal guide (stats)
        # OBS renders a source once per view that shows it (the program, studio mode's preview, a projector,
        # the same source twice in a scene): the frame's work is done on its first render only
        self.frame_time = None  # obs_get_video_frame_time of the last render
        self.pause = PauseDetector()  # a longer gap than a few frames means the source was hidden
        self.repeat_renders = 0  # renders after the first of a frame (stats)
        self.sync_fallbacks = 0  # frames shown in sync mode with no stored frame as old as the mask (stats)
        self.ring_pushes = 0  # frames stored in the sync ring (stats: one a frame, however often it renders)
        self.worker = None
        self.worker_error: str | None = None
        raw = L.obs_source_get_name(source)
        self.name = raw.decode("utf-8", "replace") if raw else "?"
        self.update(settings_data, first=True)
        worker_class, self.worker_error = _worker_class()
        if worker_class is not None:
            self.worker = worker_class(self.settings, name=f"obsmatte-worker[{self.name}]").start()
        else:
            self.log_once(L.LOG_ERROR, self.worker_error)

    # ------------------------------------------------------------------------------- messages
    def log_once(self, level: int, message: str) -> None:
        if message and message not in self.logged:
            self.logged.add(message)
            L.log(level, f"'{self.name}': {message}")

    def problem(self) -> str | None:
        """Why the video is passed through right now, or None."""
        if self.worker_error:
            return self.worker_error
        if self.gfx.effect_error:
            return self.gfx.effect_error
        if self.worker is not None and self.worker.error:
            return self.worker.error
        refiner = getattr(self.gfx, "refiner", None)
        if refiner is not None and refiner.error and not self.gfx.refined_tex:
            return refiner.error  # no refined mask to draw with, so the video passes through
        return self.error

    def status_text(self) -> str:
        problem = self.problem()
        if problem:
            return f"Error: {problem} — passing video through"
        text = self.worker.status_text() if self.worker is not None else "starting…"
        if self.settings_problems:
            text += " · " + self.settings_problems[0]
        return text

    # ------------------------------------------------------------------------------- settings
    def update(self, data: int, first: bool = False) -> None:
        values = properties.read_values(data)
        presets = properties.presets_or_empty()
        chosen = values.get(PRESET_KEY, CUSTOM_PRESET)
        # a newly chosen preset (dialog or obs-websocket) writes its values; on creation the stored
        # values are the user's and win, and the preset fills in the ones not given (a filter created
        # with a preset and a few values of its own, e.g. over obs-websocket or in a scene file)
        if first:
            to_write = preset_values_to_fill(chosen, presets, lambda key: properties.has_user_values(data, [key]))
        else:
            to_write = values_that_differ(preset_values_to_write(chosen, self.preset, presets), values)
        if to_write:
            properties.write_values(data, to_write)
            values.update(to_write)
        shown = effective_preset(chosen, values, presets)
        if shown != chosen:
            properties.write_values(data, {PRESET_KEY: shown})
        self.preset = shown
        settings, self.settings_problems = settings_from_values(values)
        for p in self.settings_problems:
            self.log_once(L.LOG_WARNING, p)
        self.settings = settings
        if self.worker is not None:
            self.worker.update(settings)

    # --------------------------------------------------------------------------------- render
    def every_second(self, now: float) -> None:
        """The problem to the log, the stats file: once a second, from video_render (graphics thread, under the
        instance's render lock, see registration: the parent cannot change meanwhile). Not while the filter is
        not rendered (source hidden, filter off): the dialog's status (get_properties) still shows it."""
        if now >= self.status_due:
            self.status_due = now + STATUS_EVERY_S
            self.report_problem()
        if self.stats_file and now >= self.stats_due:
            self.stats_due = now + STATS_EVERY_S
            parent = L.obs_filter_get_parent(self.source)
            raw = L.obs_source_get_name(parent) if parent else None
            self.parent_name = raw.decode("utf-8", "replace") if raw else self.parent_name
            self.write_stats()

    def report_problem(self) -> None:
        """A reason for passthrough goes to the OBS log once (the dialog shows it via get_properties)."""
        problem = self.problem()
        if problem:
            self.log_once(L.LOG_WARNING, f"{problem} — passing video through")
        for thread in (self.worker, getattr(self.gfx, "refiner", None)):
            priority = getattr(thread, "priority_problem", None)
            if priority:  # the filter still works, it just competes with OBS's rendering for the CPU
                self.log_once(L.LOG_INFO, f"background priority for the matting threads: {priority}")

    def render_failed(self, reason: str | None) -> None:
        """Registration stops calling video_render after repeated failures (reason), or tries it again (None):
        the reason is this filter's problem, shown in the status and logged once."""
        self.error = reason
        if reason:
            self.log_once(L.LOG_WARNING, f"{reason} — passing video through")

    def pass_through(self) -> None:
        """A frame while registration holds this filter in passthrough: the video unchanged."""
        self.every_second(time.perf_counter())
        L.skip_video_filter(self.source)

    def source_is_leaving(self) -> bool:
        """True when OBS is removing this filter's source (exit, scene collection switch) or the filter.
        Call with the instance's render lock held (the parent pointer must not change meanwhile)."""
        parent = L.obs_filter_get_parent(self.source)
        return not parent or bool(L.obs_source_removed(parent)) or bool(L.obs_source_removed(self.source))

    def describe(self) -> str:
        """'<filter>' on '<source>' and the libobs flags that decide whether it is leaving (for the log)."""
        parent = L.obs_filter_get_parent(self.source)
        raw = L.obs_source_get_name(parent) if parent else None
        where = raw.decode("utf-8", "replace") if raw else "no source"
        return (f"'{self.name}' on '{where}' (source removed: {bool(parent) and bool(L.obs_source_removed(parent))}, "
                f"filter removed: {bool(L.obs_source_removed(self.source))})")

    def stop_worker(self, timeout: float) -> None:
        """Stop inference now (exit): the video passes through until destroy frees the GPU objects."""
        worker = self.worker
        if worker is not None and not worker.stop(timeout=timeout):
            from .registration import registry
            registry().lingering.append(worker)  # stopped again, bounded, when Python finalises
            L.log(L.LOG_WARNING, f"'{self.name}': worker did not stop within {timeout} s; left to finish")

    def write_stats(self) -> None:
        stats = {"name": self.name, "source": self.parent_name, "time": time.time(),
                 "graphics_ms": self.times.summary(), "status": self.status_text(), "problem": self.problem(),
                 "renderer": self.gfx.renderer, "edge_denoise": self.edge_denoise(self.settings.edge_denoise),
                 "edge_temporal": self.temporal_active, "frames": self.frame_id,
                 "obs_frames_rendered": L.obs_get_total_frames() - L.obs_get_lagged_frames(),
                 "repeat_renders": self.repeat_renders, "ring_pushes": self.ring_pushes,
                 "sync_fallbacks": self.sync_fallbacks}
        if self.worker is not None:
            s = self.worker.stats()
            stats.update(masks_per_second=s.masks_per_second, inference_ms=s.inference_ms,
                         mask_age_ms=s.mask_age_ms, latency_ms=s.latency_ms, device=s.device, error=s.error)
        # one file per filter: <OBSMATTE_STATS_FILE>.<source>.<filter>.json (names made file-safe)
        names = f"{self.parent_name}.{self.name}".translate(UNSAFE_IN_FILE_NAME)
        path = f"{self.stats_file}.{names}.json"
        try:
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(stats, f)
            os.replace(path + ".tmp", path)
        except OSError as e:
            self.log_once(L.LOG_WARNING, f"cannot write stats file {path}: {e}")

    def edge_denoise(self, choice: str) -> bool:
        """The 'Steady edges' setting on this renderer (the denoised guide, and with 'on' or 'auto' the
        temporal guide too): auto leaves it off on a software rasterizer."""
        if choice != "auto":
            return choice in ("on", "spatial")
        if renderer.is_software(self.gfx.renderer):
            self.log_once(L.LOG_INFO, f"steady edges off on the software renderer '{self.gfx.renderer}' "
                                      "(its full-size copy and temporal pass cost CPU time there); 'On' forces it")
            return False
        return True

    def temporal_guide(self, target: int, parent: int, w: int, h: int, frame_tex: int, linear: bool,
                       now: float, direct: bool = False) -> int:
        """The temporal guide's texture (graphics.temporal_guide), or 0: then this frame, and after a
        failure every frame, draws with the spatial guide alone (the failure is logged once)."""
        try:
            guide = self.gfx.temporal_guide(target, parent, w, h, frame_tex, linear, now, direct)
        except Exception:
            self.gfx.temporal_error = "temporal guide failed: " + traceback.format_exc(limit=2).strip().replace("\n", " | ")
            guide = 0
        if self.gfx.temporal_error:
            self.log_once(L.LOG_WARNING, self.gfx.temporal_error + "; steady edges continue without it")
        self.temporal_active = bool(guide)
        return guide

    def guide_for(self, target: int, parent: int, w: int, h: int, frame_tex: int, linear: bool, now: float,
                  repeat: bool, direct: bool = False) -> int:
        """This frame's temporal guide: drawn on the frame's first render, the same texture on the others
        (a second blend of the same frame would weigh it twice)."""
        if not repeat:
            return self.temporal_guide(target, parent, w, h, frame_tex, linear, now, direct)
        guide = self.gfx.current_guide()
        self.temporal_active = bool(guide)
        return guide

    def small_size(self, w: int, h: int) -> tuple[int, int]:
        side = max(16, min(int(self.settings.inference_size), max(w, h)))
        if w >= h:
            return side, max(1, round(side * h / w))
        return max(1, round(side * w / h)), side

    def video_render(self) -> None:
        self.every_second(time.perf_counter())  # before t0: a stats file written is no step of the frame's
        t0 = time.perf_counter()
        source = self.source
        target = L.obs_filter_get_target(source)
        parent = L.obs_filter_get_parent(source)
        if not target or not parent:
            return  # not attached (libobs' skip would dereference the missing parent)
        if self.worker is None or not self.gfx.ensure_effect():
            L.obs_source_skip_video_filter(source)
            return
        w, h = L.obs_source_get_base_width(target), L.obs_source_get_base_height(target)
        if w == 0 or h == 0:
            L.obs_source_skip_video_filter(source)
            return
        gfx = self.gfx
        worker = self.worker
        pacer = gfx.pacer
        if (w, h) != self.source_size:
            if self.source_size != (0, 0):
                gfx.free_size_dependent()
                gfx.forget_mask()
                self.refined_key = None
                worker.reset()
            self.source_size = (w, h)
        frame_time = L.obs_get_video_frame_time()
        repeat = frame_time == self.frame_time  # another view of the frame already rendered: draw only
        self.frame_time = frame_time
        if repeat:
            self.repeat_renders += 1
        else:
            interval_s = L.video_output_get_frame_time(L.obs_get_video()) / 1e9
            if self.pause.is_pause(frame_time / 1e9, interval_s):
                # back after a gap (scene switched away, filter disabled): the pictures kept from before it
                # would show the past (sync) or hand the model an old frame
                gfx.forget_frames()
            gfx.gap_s = self.pause.gap_s  # the temporal guide's, too
            pacer.frame(t0)
            self.frame_id += 1
        s = self.settings
        mode = s.background
        result = worker.latest()
        if worker.error:
            result = None

        # Order matters on llvmpipe: reading a texture back or uploading one makes it finish the
        # rendering queued so far, there and then. So the readback and the upload come first, while
        # little is queued, and the small copy for the model is drawn last and read back on the NEXT
        # frame, after OBS's own end-of-frame flush has rendered it.

        # 1. the model's input: the copy staged on the previous frame goes to the worker
        staged = gfx.read_staged() if not repeat else None
        if staged is not None:
            worker.submit(staged.pixels, staged.frame_id, staged.timestamp)
            gfx.remember_posted(staged)  # the guide of the mask that will come from it
            pacer.posted(staged.frame_id, t0)
        if gfx.to_stage is not None and not repeat:
            gfx.stage_rendered()  # last frame's copy: rendered by now, so this is a plain copy
        t1 = time.perf_counter()

        # 2. libobs draws the parent straight through our effect (no intermediate texture) when it can
        flags = L.obs_source_get_output_flags(parent)
        direct = not s.sync_video and target == parent and bool(flags & L.OBS_SOURCE_SRGB) \
            and not flags & (L.OBS_SOURCE_CUSTOM_DRAW | L.OBS_SOURCE_ASYNC)
        linear = draws_in_linear_light(s.sync_video)

        # 3. a new mask: refined on the CPU at the mask's size with the frame it came from as the guide,
        # on a helper thread (refine_thread); the result is uploaded as one small texture a frame later.
        # Nothing to do while the mask and the knobs stay the same.
        refiner = gfx.refiner
        steady = self.edge_denoise(s.edge_denoise)  # the denoised guide
        over_time = steady and s.edge_denoise != "spatial"  # and the temporal guide on top
        if result is not None and not repeat:
            pacer.observe(result.seq, result.frame_id, result.produced_at)
            guided = s.feather_mode == "guided"
            # the guide's noise (~1 ms a mask) only for the temporal guide, its one reader
            noise = over_time
            key = (result.seq, s.erode, s.feather, guided, linear, noise, w, h)
            if key != self.refined_key:
                self.refined_key = key
                refiner.post(key, result.mask, gfx.frame_for(result.frame_id), s.erode, s.feather, guided,
                             (w, h), linear, noise)
        done = refiner.take() if not repeat else None
        if done is not None and done[0][-2:] == (w, h):
            gfx.upload_refined(done[1])
        if refiner.error:
            self.log_once(L.LOG_WARNING, refiner.error)
        t2 = time.perf_counter()

        ready = result is not None and bool(gfx.refined_tex)

        # 4. the background. Blur reads the small copy drawn on the previous frame (already rendered:
        # reading this frame's would make llvmpipe finish it right here); one frame older is invisible
        # in a blurred background
        bg, bg_scale = 0, (1.0, 1.0)
        if not ready:
            pass
        elif mode == "blur":
            if not gfx.small_valid:
                gfx.render_small(target, parent, w, h, *self.small_size(w, h))
            bg = gfx.blur_background(s.blur_strength, linear, w)
            if not bg:
                mode = "color"
        elif mode == "image":
            bg, why = gfx.background_image(s.background_image)
            if why:
                self.log_once(L.LOG_WARNING, why + "; using the background colour")
                mode = "color"
            else:
                iw, ih = gfx.bg_image_size
                scale = (max if s.image_fit == "fill" else min)(w / iw, h / ih)
                bg_scale = (w / (iw * scale), h / (ih * scale))
        # the temporal guide where the guide is read at all (a blur feather's texture holds the alpha
        # itself: ramp 0)
        temporal = ready and over_time and gfx.refined_ramp > 0 and not gfx.temporal_error
        self.temporal_active = False  # until temporal_guide draws one
        t3 = time.perf_counter()

        # 5. this frame's small copy: for the model only on frames the worker will take (stage_pacer),
        # and every frame in blur mode (the blurred background follows the video)
        stage_now = not repeat and pacer.should_stage(t0, result.frame_id if result is not None else None,
                                                      s.max_masks_per_second, frames_to_post=2)
        small = 0
        sw, sh = self.small_size(w, h)
        if stage_now or (mode == "blur" and not repeat):
            small = gfx.render_small(target, parent, w, h, sw, sh)
        if stage_now and small:
            gfx.to_stage = (self.frame_id, t0)  # staged next frame, posted the frame after
            pacer.staged(t0)
        t4 = time.perf_counter()
        if not ready:  # no mask yet (model loading) or a failing worker: the video passes through
            if s.sync_video and not repeat:
                gfx.drop_ring()
            L.obs_source_skip_video_filter(source)
            return

        # 6. the one full-size pass (after the temporal guide's two when steady edges are on)
        if s.sync_video:
            if not repeat:
                gfx.ring_push(target, parent, w, h, t0)
                self.ring_pushes += 1
            frame_tex = gfx.ring_pick(result.timestamp)
            if not gfx.ring_matched and not repeat:
                self.sync_fallbacks += 1
            if frame_tex:
                guide = self.guide_for(target, parent, w, h, frame_tex, linear, t0, repeat) if temporal else 0
                gfx.set_draw_params(s.color_rgb, linear, bg, bg_scale, (w, h), guide)
                gfx.draw_texture(frame_tex, w, h, gfx.technique(mode, steady, bool(guide)))
            else:
                L.obs_source_skip_video_filter(source)
        else:
            if gfx.ring:
                gfx.drop_ring()
            guide = self.guide_for(target, parent, w, h, 0, linear, t0, repeat, direct) if temporal else 0
            if L.obs_source_process_filter_begin(source, L.GS_RGBA, L.OBS_ALLOW_DIRECT_RENDERING):
                gfx.set_draw_params(s.color_rgb, linear, bg, bg_scale, (w, h), guide)
                L.obs_source_process_filter_tech_end(source, gfx.effect, w, h, gfx.technique(mode, steady, bool(guide)))
        t5 = time.perf_counter()
        ms = 1e3
        # steps: stage = post the copy staged last frame and stage the one drawn last frame (map_copy is
        # inside it); upload = hand a new mask to the refine thread, upload its last result; refine = background
        self.times.add(stage=(t1 - t0) * ms, map_copy=0.0, upload=(t2 - t1) * ms, refine=(t3 - t2) * ms,
                       small_render=(t4 - t3) * ms, main_draw=(t5 - t4) * ms, total=(t5 - t0) * ms)

    # -------------------------------------------------------------------------------- destroy
    def destroy(self) -> None:
        """Stop the worker, then free GPU objects inside the graphics context. Safe to call twice."""
        if self.destroyed:
            return
        self.destroyed = True
        # join with the GIL released (Thread.join); libobs guarantees no render of this instance now
        self.stop_worker(2.0)
        self.gfx.refiner.stop()  # its join (up to a second) outside the graphics lock, which OBS renders under
        L.obs_enter_graphics()  # CDLL: waits for the graphics thread without holding the GIL
        try:
            self.gfx.destroy()
        except Exception:
            L.log(L.LOG_ERROR, "freeing graphics failed: " + traceback.format_exc(limit=3))
        finally:
            L.obs_leave_graphics()
