"""The worker thread that owns the model, so the OBS graphics thread never waits for inference.

- Mailbox of one: submit() replaces an unprocessed frame, so memory and latency stay bounded and the
  newest frame always wins.
- latest() returns the newest mask with the id/time of the frame it came from (for the mask-age figure
  and the optional "keep video in sync" delay).
- update() applies new settings live; only a model/device/threads change reloads the model, and that
  happens on the worker thread, never on the caller's.
- Exceptions become `error` (a one-line message) instead of escaping; the caller draws passthrough.
- A GPU that fails while running (a driver reset, its memory taken by a game) is given up after
  GPU_FAILURES_BEFORE_CPU masks in a row: the model goes on on the CPU and the status says why, until the
  model or device is changed (which tries the GPU again).
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import thread_priority
from .errors import InferenceError, MattingError
from .pipeline import MaskPipeline
from .settings import MatteSettings


@dataclass(frozen=True)
class MaskResult:
    mask: np.ndarray  # uint8 HxW, C-contiguous, ready for an R8 texture upload
    seq: int  # increases by one per published mask
    frame_id: int
    timestamp: float  # perf_counter() time of the frame the mask was computed from
    produced_at: float  # perf_counter() time the mask was published
    inference_ms: float


@dataclass(frozen=True)
class WorkerStats:
    device: str
    masks_per_second: float
    inference_ms: float  # median of the recent masks (model only)
    total_ms: float  # median of the recent masks (conditioning + model + refinement)
    mask_age_ms: float  # now - time of the frame behind the newest mask
    latency_ms: float  # produced_at - frame time of the newest mask
    dropped_frames: int  # frames replaced in the mailbox before the worker took them
    error: str | None


class MattingWorker:
    # Masks in a row a GPU may fail before the model moves to the CPU: one failure can be a passing
    # hiccup (a frame during a driver's mode switch); a lost device fails every time.
    GPU_FAILURES_BEFORE_CPU = 3

    def __init__(self, settings: MatteSettings, *, search_dirs: list[Path] | None = None, name: str = "obsmatte-worker"):
        self._settings = settings
        self._search_dirs = search_dirs
        self._cond = threading.Condition()
        self._frame: tuple[np.ndarray, int, float] | None = None
        self._pending_settings: MatteSettings | None = None
        self._reset_requested = False
        self._stopping = False
        self._result: MaskResult | None = None
        self._seq = 0
        self._pipeline: MaskPipeline | None = None
        self._loaded_settings: MatteSettings | None = None
        self._error: str | None = None
        self._device = "loading"
        self._dropped = 0
        self._recent: collections.deque[tuple[float, float, float]] = collections.deque(maxlen=60)
        self._last_run_started = 0.0
        self._gpu_failures = 0  # masks in a row the GPU failed to run
        self._gpu_lost: str | None = None  # why the model runs on the CPU though settings ask for a GPU
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        # None, or why the worker thread could not take background priority (thread_priority.py)
        self.priority_problem: str | None = None

    # ------------------------------------------------------------------------------ caller side
    def start(self) -> "MattingWorker":
        self._thread.start()
        return self

    def submit(self, frame: np.ndarray, frame_id: int, timestamp: float) -> None:
        """Post the newest frame (RGB or RGBA uint8). Never blocks beyond a short lock."""
        with self._cond:
            if self._frame is not None:
                self._dropped += 1
            self._frame = (frame, frame_id, timestamp)
            self._cond.notify()

    def latest(self) -> MaskResult | None:
        return self._result  # a single reference read: atomic under the GIL

    def update(self, settings: MatteSettings) -> None:
        with self._cond:
            self._pending_settings = settings
            self._cond.notify()

    def reset(self) -> None:
        """Forget temporal state before the next frame (scene cut, source changed); the next mask comes
        without waiting out max_masks_per_second (the filter has dropped the old one)."""
        with self._cond:
            self._reset_requested = True
            self._cond.notify()

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to finish and join it. True when it has ended. Safe to call twice."""
        with self._cond:
            self._stopping = True
            self._frame = None
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def stats(self) -> WorkerStats:
        now = time.perf_counter()
        recent = list(self._recent)
        window = [r for r in recent if now - r[0] <= 2.0]
        mps = 0.0
        if len(window) >= 2:
            span = window[-1][0] - window[0][0]
            mps = (len(window) - 1) / span if span > 0 else 0.0
        result = self._result
        return WorkerStats(
            device=self._device,
            masks_per_second=mps,
            inference_ms=float(np.median([r[1] for r in recent])) if recent else 0.0,
            total_ms=float(np.median([r[2] for r in recent])) if recent else 0.0,
            mask_age_ms=(now - result.timestamp) * 1e3 if result else 0.0,
            latency_ms=(result.produced_at - result.timestamp) * 1e3 if result else 0.0,
            dropped_frames=self._dropped,
            error=self._error)

    def status_text(self) -> str:
        s = self.stats()
        if s.error:
            return f"Error: {s.error} — passing video through"
        if self._pipeline is None:
            return "Loading model…"
        return (f"{s.device} · {s.inference_ms:.1f} ms inference · {s.masks_per_second:.1f} masks/s · "
                f"mask age {s.mask_age_ms:.0f} ms")

    # ------------------------------------------------------------------------------ worker side
    def _run(self) -> None:
        # below OBS's rendering threads: the model then runs in the time rendering leaves idle
        self.priority_problem = thread_priority.lower_current_thread()
        self._apply_settings(self._settings)
        while True:
            with self._cond:
                while not self._has_work():
                    self._cond.wait(0.5)
                if self._stopping:
                    break
                settings, self._pending_settings = self._pending_settings, None
                reset, self._reset_requested = self._reset_requested, False
                has_frame = self._frame is not None
            if settings is not None:
                self._apply_settings(settings)
            if reset:
                self._apply_reset()
            if not has_frame:  # woken for settings or a reset alone
                continue
            if self._pipeline is None:
                self._take_frame()  # no model to give it to (the error says why): dropped
                continue
            # the frame stays in the mailbox while the throttle waits, so a newer one replaces it there (and
            # submit counts the dropped one); new settings or a reset cut the wait short and go round again
            if not self._throttle():
                continue
            item = self._take_frame()
            if item is not None:
                self._process(*item)
        self._pipeline = None  # release the session on the worker thread

    def _interrupts_throttle(self) -> bool:
        """Under the lock: what the throttle's wait must not sit out."""
        return self._stopping or self._pending_settings is not None or self._reset_requested

    def _has_work(self) -> bool:
        """Under the lock: something for the loop to do."""
        return self._frame is not None or self._interrupts_throttle()

    def _take_frame(self) -> tuple[np.ndarray, int, float] | None:
        with self._cond:
            item, self._frame = self._frame, None
        return item

    def _apply_reset(self) -> None:
        # applied now, on this thread (the pipeline's owner), even when no frame came with it: a reset
        # kept for "the next frame" was lost when new settings woke the loop first
        if self._pipeline is not None:
            self._pipeline.reset()
        self._restart_throttle()

    def _restart_throttle(self) -> None:
        """The next mask comes at once: the mask shown has been dropped (reset) or is the old model's."""
        self._last_run_started = 0.0

    def _apply_settings(self, settings: MatteSettings) -> None:
        self._settings = settings
        try:
            if self._pipeline is None or settings.needs_restart(self._loaded_settings):
                self._gpu_lost = None  # a new model or device: the GPU gets another chance
                self._load_pipeline(settings)
            else:
                self._pipeline.update(self._runnable(settings))
            self._loaded_settings = settings
            self._error = None
        except MattingError as e:
            self._fail(str(e))
        except Exception as e:  # unexpected: still never escape the thread
            self._fail(f"{e.__class__.__name__}: {e}")

    def _runnable(self, settings: MatteSettings) -> MatteSettings:
        """The settings the pipeline runs: on the CPU once the GPU was given up (else the pipeline's own
        update would see a device change and load the model on the GPU again)."""
        return settings.replace(device="cpu") if self._gpu_lost else settings

    def _load_pipeline(self, settings: MatteSettings) -> None:
        self._device = "loading"
        self._pipeline = None
        self._pipeline = MaskPipeline(self._runnable(settings), search_dirs=self._search_dirs)
        self._gpu_failures = 0
        self._restart_throttle()
        info = self._pipeline.device_info
        note = self._pipeline.gpu_note  # whether the GPU model runs, and why not
        lost = f" — fell back while running: {self._gpu_lost}" if self._gpu_lost else ""
        self._device = (info.describe() if info else "CPU") + lost + (f" · {note}" if note else "")
        # the last mask stays until the new model's first one, as it did while the model loaded:
        # clearing it would pass the video through, background and all, for a frame or two

    def _on_gpu(self) -> bool:
        info = self._pipeline.device_info if self._pipeline is not None else None
        return info is not None and info.device != "cpu"

    def _inference_failed(self, error: InferenceError) -> None:
        """A model failed while running: on a GPU that keeps failing, the model moves to the CPU."""
        if not self._on_gpu():
            self._fail(str(error))
            return
        self._gpu_failures += 1
        if self._gpu_failures < self.GPU_FAILURES_BEFORE_CPU:
            self._fail(str(error))
            return
        self._gpu_lost = f"{self._pipeline.device_info.device}: {error}"
        try:
            self._load_pipeline(self._settings)
            self._error = None
        except MattingError as e:
            self._fail(f"{self._gpu_lost}; and on the CPU: {e}")
        except Exception as e:  # unexpected: the thread must live on, as in _apply_settings
            self._fail(f"{self._gpu_lost}; and on the CPU: {e.__class__.__name__}: {e}")

    def _throttle(self) -> bool:
        """Honour max_masks_per_second by waiting before the next run. False when new settings, a reset or
        stop() cut the wait short: the caller applies them and throttles again, with the new cap (a cap
        lowered to 0.2/s and then raised or removed no longer holds the next mask for 5 s)."""
        cap = self._settings.max_masks_per_second
        if cap > 0:
            wait = self._last_run_started + 1.0 / cap - time.perf_counter()
            if wait > 0:
                with self._cond:
                    if self._cond.wait_for(self._interrupts_throttle, timeout=wait):
                        return False
        self._last_run_started = time.perf_counter()
        return True

    def _process(self, frame: np.ndarray, frame_id: int, timestamp: float) -> None:
        try:
            rgb = frame[:, :, :3] if frame.ndim == 3 and frame.shape[2] == 4 else frame
            if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
                raise MattingError(f"source frame has no pixels ({frame.shape})")
            alpha = self._pipeline.process(np.ascontiguousarray(rgb))
            mask = np.empty(alpha.shape, np.uint8)
            np.multiply(alpha, 255.0, out=alpha)
            np.add(alpha, 0.5, out=alpha)
            mask[...] = alpha  # float -> uint8 truncation after +0.5 = rounding
            now = time.perf_counter()
            self._seq += 1
            t = self._pipeline.times
            self._result = MaskResult(mask, self._seq, frame_id, timestamp, now, t.inference)
            self._recent.append((now, t.inference, t.total))
            self._gpu_failures = 0
            if self._error is not None:
                self._error = None
        except InferenceError as e:
            self._inference_failed(e)
        except MattingError as e:
            self._fail(str(e))
        except Exception as e:
            self._fail(f"{e.__class__.__name__}: {e}")

    def _fail(self, message: str) -> None:
        self._error = message
        self._result = None
