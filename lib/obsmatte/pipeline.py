"""From a frame to a mask: low-light conditioning -> model -> temporal smoothing -> islands -> threshold.

MaskPipeline is what the worker thread (OBS) and the command line both run, so what is measured and what
streams are the same code. It works at the model's resolution; full-resolution finishing (upsampling,
erode/dilate, feathering) is compose.finish_alpha on the CPU and the effect shader in OBS.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import compose, refine
from .models import Matter, RvmMatter, create_matter
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
        self.matter = matter or self._load(settings)
        self.smoother = refine.TemporalSmoother(settings.temporal_smoothing)
        self.times = StepTimes()

    def _load(self, settings: MatteSettings) -> Matter:
        options = {"max_side": settings.inference_size} if _is_rvm(settings.model) else {}
        return create_matter(settings.model, settings.device, settings.threads, self.search_dirs, **options)

    @property
    def device_info(self):
        return self.matter.info

    def update(self, settings: MatteSettings) -> None:
        """Apply new settings; reloads the model only when model/device/threads changed."""
        if settings.needs_restart(self.settings):
            self.matter = self._load(settings)
            self.smoother.reset()
        if isinstance(self.matter, RvmMatter):
            self.matter.max_side = settings.inference_size
        self.smoother.set_strength(settings.temporal_smoothing)
        self.settings = settings

    def reset(self) -> None:
        """Forget temporal state (new video, scene cut)."""
        self.smoother.reset()
        self.matter.reset()

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 frame of any size -> float32 alpha in [0, 1] at the model's output size."""
        s = self.settings
        t0 = time.perf_counter()
        model_input = refine.condition_low_light(rgb, s.low_light_boost) if s.low_light_boost > 0 else rgb
        t1 = time.perf_counter()
        prob = self.matter.predict(model_input)
        t2 = time.perf_counter()
        # Smooth the model's confidence before cutting it: a flickering pixel near the threshold then
        # settles instead of toggling between 0 and 1. The frame the model saw tells the smoother where
        # the picture moved (follow at once) and where it did not (hold the previous answer).
        prob = self.smoother.update(prob, model_input)
        alpha = refine.soft_threshold(prob, s.threshold, s.softness)
        alpha = refine.remove_small_islands(alpha, s.min_person_area)
        t3 = time.perf_counter()
        self.times = StepTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return alpha


def _is_rvm(model_id: str) -> bool:
    from .models import get_spec
    return get_spec(model_id).family == "rvm"


def matte_image(rgb: np.ndarray, settings: MatteSettings, pipeline: MaskPipeline | None = None) -> np.ndarray:
    """Full-size float32 alpha for one frame: MaskPipeline.process + compose.finish_alpha.

    Pass the same `pipeline` for consecutive video frames to keep temporal state.
    """
    pipeline = pipeline or MaskPipeline(settings)
    mask = pipeline.process(rgb)
    return compose.finish_alpha(mask, rgb, settings)
