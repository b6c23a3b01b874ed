"""From a frame to a mask: low-light conditioning -> model -> temporal smoothing -> islands -> threshold.

MaskPipeline is what the worker thread (OBS) and the command line both run, so what is measured and what
streams are the same code. It works at the model's resolution; full-resolution finishing (upsampling,
erode/dilate, feathering) is compose.finish_alpha on the CPU and the effect shader in OBS.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import compose, fast_guided, refine
from .errors import MattingError, ModelError
from .models import AveragedMatter, Matter, MirroredMatter, RvmMatter, TiledMatter, ZoomedMatter, create_matter
from .settings import MatteSettings


@dataclass
class StepTimes:
    """Milliseconds spent in each step of the last process() call."""
    preprocess: float = 0.0  # low-light conditioning (the adapter's resize/normalise counts as inference)
    inference: float = 0.0
    refine: float = 0.0

    @property
    def total(self) -> float:
        return self.preprocess + self.inference + self.refine


class MaskPipeline:
    """Owns a model adapter and the per-stream refinement state (temporal smoothing, RVM states)."""

    def __init__(self, settings: MatteSettings, *, search_dirs: list[Path] | None = None,
                 matter: Matter | None = None):
        self.settings = settings
        self.search_dirs = search_dirs
        self.gpu_note: str | None = None  # whether settings.gpu_model runs, and why not
        self.model = matter or self._load(settings)  # the model(s) alone
        self.matter = _with_views(self.model, settings)  # what process() runs: with tiles / mirror pass if asked
        self.smoother = refine.TemporalSmoother(settings.temporal_smoothing)
        self.denoiser = refine.InputDenoiser(settings.low_light_denoise, settings.inference_size)
        # the full-size guide's temporal filter (steady edges), used by whoever finishes the alpha
        # (matte_image, the video command): per stream like the smoother, reset with it
        self.guide_filter = fast_guided.TemporalGuide()
        self.times = StepTimes()

    def _load(self, settings: MatteSettings) -> Matter:
        gpu = self._load_gpu_model(settings)
        if gpu is not None:
            return gpu
        first = create_matter(settings.model, settings.device, settings.threads, self.search_dirs,
                              **_adapter_options(settings.model, settings))
        if not has_second_opinion(settings):
            return first
        if _is_rvm(settings.second_model):
            raise ModelError(f"'{settings.second_model}' is a video-matting model; a second opinion takes a "
                             "frame-by-frame model")
        second = create_matter(settings.second_model, settings.device, settings.threads, self.search_dirs)
        return AveragedMatter(first, second)

    def _load_gpu_model(self, settings: MatteSettings) -> Matter | None:
        """settings.gpu_model loaded when it runs on a GPU, else None; gpu_note says which and why.

        Only tried when a GPU could run it (the device is not 'cpu' and this onnxruntime build offers a GPU
        provider), so a CPU machine loads nothing extra. A GPU model that is not installed, or whose
        session ends up on the CPU (the GPU provider failed), is let go for 'Model'."""
        self.gpu_note = None
        if not settings.gpu_model or settings.gpu_model == settings.model:
            return None
        if settings.device == "cpu":
            self.gpu_note = f"{settings.gpu_model} not used: the device is CPU"
            return None
        from .runtime import available_devices
        if available_devices() == ["cpu"]:
            self.gpu_note = f"{settings.gpu_model} not used: no GPU in this onnxruntime build"
            return None
        try:  # an unknown id, a missing or corrupt file: the preset's models run, with the reason
            matter = create_matter(settings.gpu_model, settings.device, settings.threads, self.search_dirs,
                                   **_adapter_options(settings.gpu_model, settings))
        except MattingError as e:
            self.gpu_note = f"{settings.gpu_model} not used: {e}"
            return None
        info = getattr(matter, "info", None)
        if info is None or info.device == "cpu":
            why = info.fallback_reason if info is not None and info.fallback_reason else "it runs on the CPU"
            self.gpu_note = f"{settings.gpu_model} not used: {why}"
            return None
        self.gpu_note = f"{settings.gpu_model} on the GPU"
        return matter

    @property
    def active_model(self) -> str:
        """The model id(s) that run: the GPU model when it was taken, else the model and its second opinion."""
        if getattr(self.model, "spec", None) is not None and self.model.spec.id == self.settings.gpu_model:
            return self.settings.gpu_model
        return self.settings.model + (f" + {self.settings.second_model}" if has_second_opinion(self.settings) else "")

    @property
    def device_info(self):
        return self.matter.info

    def update(self, settings: MatteSettings) -> None:
        """Apply new settings; reloads the model only when model/device/threads changed."""
        restart = settings.needs_restart(self.settings)
        if restart:
            self.model = self._load(settings)
            self.smoother.reset()
        if restart or settings.mirror_pass != self.settings.mirror_pass \
                or settings.wide_tiles != self.settings.wide_tiles \
                or settings.subject_zoom != self.settings.subject_zoom:
            self.matter = _with_views(self.model, settings)
        if isinstance(self.matter, ZoomedMatter):
            self.matter.margin = settings.zoom_margin
        if isinstance(self.model, RvmMatter):
            self.model.max_side = settings.inference_size
        self.smoother.set_strength(settings.temporal_smoothing)
        self.denoiser.set_strength(settings.low_light_denoise)
        self.denoiser.max_side = max(16, int(settings.inference_size))
        self.settings = settings

    def reset(self) -> None:
        """Forget temporal state (new video, scene cut)."""
        self.smoother.reset()
        self.denoiser.reset()
        self.guide_filter.reset()
        self.matter.reset()

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 frame of any size -> float32 alpha in [0, 1] at the model's output size."""
        t0 = time.perf_counter()
        model_input = self._condition(rgb)
        t1 = time.perf_counter()
        prob = self.matter.predict(model_input)
        t2 = time.perf_counter()
        seen = getattr(self.matter, "last_model_rgb", None)
        alpha = self._refine(prob, model_input if seen is None else seen)
        t3 = time.perf_counter()
        self.times = StepTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return alpha

    def stream(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, mask) for consecutive frames, in order: the masks process() would give one by one.

        Three stages overlap: while the model runs frame N on the calling thread, one helper thread
        refines frame N-1's mask and prepares frame N+1 (low-light conditioning, shrink, normalise).
        OpenCV, numpy's loops and onnxruntime release the GIL, so on two cores the model has one core to
        itself and everything else fits on the other (`obs-matting bench`, "stream" column). The helper
        runs its jobs in the order they are given, so the temporal state sees the masks in order. For
        frames that are already there (a video file); the OBS worker takes live frames one at a time
        with process(), where overlapping would only add a frame of latency.
        """
        if not hasattr(self.matter, "prepare"):  # a wrapped model (evaluation cache): one by one
            for rgb in frames:
                yield rgb, self.process(rgb)
            return

        def prepare(rgb):
            t0 = time.perf_counter()
            tensor, seen = self.matter.prepare(self._condition(rgb))
            return rgb, tensor, seen, (time.perf_counter() - t0) * 1e3

        def refine_job(rgb, prob, seen, prepare_ms, inference_ms):
            t0 = time.perf_counter()
            alpha = self._refine(prob, seen)
            self.times = StepTimes(prepare_ms, inference_ms, (time.perf_counter() - t0) * 1e3)
            return rgb, alpha

        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="obsmatte-stream") as helper:
            pending = helper.submit(prepare, first)
            refining = None
            while pending is not None:
                rgb, tensor, seen, prepare_ms = pending.result()
                following = next(frames, None)
                pending = helper.submit(prepare, following) if following is not None else None
                t0 = time.perf_counter()
                prob = self.matter.predict_prepared(tensor)
                inference_ms = (time.perf_counter() - t0) * 1e3
                previous, refining = refining, helper.submit(refine_job, rgb, prob, seen, prepare_ms, inference_ms)
                if previous is not None:
                    yield previous.result()
            yield refining.result()

    def _condition(self, rgb: np.ndarray) -> np.ndarray:
        """The model's input: low-light conditioning when asked for (never the video that is shown).
        The exposure first, so the average keeps the precision the gain spreads over more 8-bit levels."""
        boost = self.settings.low_light_boost
        rgb = refine.condition_low_light(rgb, boost) if boost > 0 else rgb
        return self.denoiser.update(rgb)

    def _refine(self, prob: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Confidence -> alpha at the model's size; `seen` is the frame as the model saw it."""
        s = self.settings
        # Smooth the model's confidence before cutting it: a flickering pixel near the threshold then
        # settles instead of toggling between 0 and 1. The frame tells the smoother where the picture
        # moved (follow at once) and where it did not (hold the previous answer); the model's own small
        # copy serves, rather than reading the full frame a second time.
        prob = self.smoother.update(prob, seen)
        alpha = refine.soft_threshold(prob, s.threshold, s.softness)
        return refine.remove_small_islands(alpha, s.min_person_area)


def has_second_opinion(settings: MatteSettings) -> bool:
    """A second model is set and is not the first one again (presets run on another model in eval), and
    the first is frame-by-frame: a video-matting model (RVM) chosen over a preset's second opinion
    carries its own temporal memory, so the second opinion is left out rather than failing."""
    if not settings.second_model or settings.second_model == settings.model:
        return False
    try:
        return not _is_rvm(settings.model)
    except ModelError:  # an unknown first model: loading it reports that
        return True


def _with_views(model, settings: MatteSettings):
    """The model(s) wrapped in wide-frame tiles, a mirror pass and the subject zoom when the settings ask for
    them (the mirror of the tiled view: tiles inside; the zoom outermost: the whole view looks at its crop,
    found by the first model alone, tiled too when tiles are on); left out, like the second opinion, for a
    video-matting model (RVM picked over a preset), whose memory of the previous frames a mirrored frame, a
    tile or a crop would corrupt."""
    if isinstance(model, RvmMatter) or _is_rvm(settings.model):
        return model
    view = TiledMatter(model) if settings.wide_tiles else model
    if settings.mirror_pass:
        view = MirroredMatter(view)
    if settings.subject_zoom:
        finder = model.first if isinstance(model, AveragedMatter) else model
        view = ZoomedMatter(TiledMatter(finder) if settings.wide_tiles else finder, view, settings.zoom_margin)
    return view


def _adapter_options(model_id: str, settings: MatteSettings) -> dict:
    """RVM takes any input size: the inference size caps it; the other models have a fixed input."""
    return {"max_side": settings.inference_size} if _is_rvm(model_id) else {}


def _is_rvm(model_id: str) -> bool:
    from .models import get_spec
    return get_spec(model_id).family == "rvm"


def matte_image(rgb: np.ndarray, settings: MatteSettings, pipeline: MaskPipeline | None = None) -> np.ndarray:
    """Full-size float32 alpha for one frame: MaskPipeline.process + compose.finish_alpha.

    Pass the same `pipeline` for consecutive video frames to keep temporal state (the mask's and the
    full-size guide's, pipeline.guide_filter).
    """
    pipeline = pipeline or MaskPipeline(settings)
    mask = pipeline.process(rgb)
    return compose.finish_alpha(mask, rgb, settings, pipeline.guide_filter)
