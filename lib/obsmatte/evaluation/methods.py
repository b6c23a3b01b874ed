"""The things we measure: the shipped pipeline with a preset's settings, and the peer baselines.

All run the same model. Presets go through pipeline.matte_image (MaskPipeline + compose.finish_alpha)
so the figures measure exactly what streams. The model's raw predictions are memoised per input frame
(CachedMatter): tuning tries dozens of settings on the same frames and only the refinement differs.
The time a frame would have cost is still reported honestly: a cache hit is charged the inference time
measured on its first (real) run.
"""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..models import AveragedMatter, create_matter, get_spec
from ..settings import MatteSettings
from .baseline import BaselinePipeline
from .plugin_code import PluginCodeBaseline

BASELINE = "baseline"
PROPOSED = "proposed"
PLUGIN_CODE = "plugin code"  # the peer plugin's default as its code runs it (plugin_code.py); not judged against


def default_search_dirs() -> list[Path]:
    """The user's model folders, then the shared reference models (tests and measurement)."""
    return [*paths.model_search_dirs(), paths.SHARED_DIR / "models"]


class CachedMatter:
    """Wraps a stateless Matter: same frame in -> the stored prediction out (float16 to save memory)."""

    def __init__(self, matter, max_entries: int = 4000):
        self.matter = matter
        self.spec = matter.spec
        self.info = getattr(matter, "info", None)
        self.max_entries = max_entries
        self._cache: OrderedDict[bytes, tuple[np.ndarray, float]] = OrderedDict()
        self.last_model_rgb: np.ndarray | None = None
        self.credit_ms = 0.0  # inference time to charge minus lookup time spent, since the last take_credit()
        self.hits = self.misses = 0

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        key = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest() + \
            repr(rgb.shape).encode()
        hit = self._cache.get(key)
        if hit is not None:
            # what the adapter would have left for the pipeline's motion gate (cheap next to a model run)
            self.last_model_rgb = self.matter._resized(rgb, self.matter.input_hw(rgb.shape[:2]))
            self._cache.move_to_end(key)
            self.hits += 1
            self.credit_ms += hit[1] - (time.perf_counter() - t0) * 1e3
            return hit[0].astype(np.float32)
        t1 = time.perf_counter()
        prob = self.matter.predict(rgb)
        self.last_model_rgb = getattr(self.matter, "last_model_rgb", None)
        infer_ms = (time.perf_counter() - t1) * 1e3
        self.misses += 1
        self._cache[key] = (prob.astype(np.float16), infer_ms)
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return prob

    def reset(self) -> None:
        self.matter.reset()

    def take_credit(self) -> float:
        c, self.credit_ms = self.credit_ms, 0.0
        return c


def load_matter(model_id: str, threads: int = 2, search_dirs: list[Path] | None = None):
    """The model adapter, cached unless the model is recurrent (RVM's output depends on its history)."""
    matter = create_matter(model_id, "cpu", threads, search_dirs or default_search_dirs())
    return matter if get_spec(model_id).family == "rvm" else CachedMatter(matter)


@dataclass
class Method:
    """A named way to turn frames into full-size alphas.

    kind "preset": the shipped pipeline with `settings`; "baseline": the peer plugin's default as the issue
    states it (the targets' reference); "plugin code": its default as its source code runs it
    (plugin_code.py); "proposed": the shipped steps with the refinements of prototype.py (with `settings`).
    """
    name: str
    settings: MatteSettings | None  # None = the baseline
    kind: str = ""

    def __post_init__(self):
        if not self.kind:
            self.kind = BASELINE if self.settings is None else "preset"

    @property
    def is_baseline(self) -> bool:
        return self.kind == BASELINE


class CachedPair(AveragedMatter):
    """A second opinion over two cached models: both inference times are charged."""

    def take_credit(self) -> float:
        return sum(m.take_credit() if hasattr(m, "take_credit") else 0.0 for m in (self.first, self.second))


_SECOND_MATTERS: dict[str, object] = {}


def second_matter(model_id: str):
    """The second opinion's model, loaded (and cached) once per process: tuning builds many Runners."""
    if model_id not in _SECOND_MATTERS:
        _SECOND_MATTERS[model_id] = load_matter(model_id)
    return _SECOND_MATTERS[model_id]


class Runner:
    """Runs one Method frame by frame on a shared model; `start()` begins a new image or video."""

    def __init__(self, method: Method, matter):
        from ..pipeline import MaskPipeline, has_second_opinion  # late: metric-only tests need no engine
        self.method = method
        if method.settings is not None and not method.is_baseline and has_second_opinion(method.settings):
            matter = CachedPair(matter, second_matter(method.settings.second_model))
        self.matter = matter
        if method.is_baseline:
            self._other = BaselinePipeline(matter)
        elif method.kind == PLUGIN_CODE:
            self._other = PluginCodeBaseline(matter)
        elif method.kind == PROPOSED:
            from .prototype import ProposedPipeline
            self._other = ProposedPipeline(matter, method.settings)
        else:
            self._pipeline = MaskPipeline(method.settings, matter=matter)
        self.last_ms = 0.0

    @property
    def skipped(self) -> int | None:
        """Frames since start() that kept the previous mask unchanged (the plugin code's similarity skip);
        None for methods that never skip."""
        return getattr(getattr(self, "_other", None), "skipped", None)

    def start(self) -> None:
        (self._pipeline if self.method.kind == "preset" else self._other).reset()

    def frame(self, rgb: np.ndarray) -> np.ndarray:
        from ..pipeline import matte_image
        take = getattr(self.matter, "take_credit", None)
        if take:
            take()
        t0 = time.perf_counter()
        if self.method.kind != "preset":
            alpha = self._other.matte(rgb)
        else:
            alpha = matte_image(rgb, self.method.settings, self._pipeline)
        self.last_ms = (time.perf_counter() - t0) * 1e3 + (take() if take else 0.0)
        return alpha
