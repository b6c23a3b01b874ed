"""Runs the CPU edge refinement (fast_guided.refine_packed, ~2 ms per mask) off the graphics thread.

On the graphics thread even the grey filter's 0.6 ms (more when the worker thread competes for the GIL)
were a third of the filter's per-frame budget. Here the graphics thread posts the new mask and takes the
packed result on a later frame (one frame, 33 ms, after the mask arrived), then only uploads a 300 KB
texture. A mailbox of one: a newer post replaces a job not yet started, so the work never queues up.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .. import thread_priority
from ..fast_guided import Refined, refine_packed


class RefineThread:
    def __init__(self, name: str = "obsmatte-refine"):
        self._cond = threading.Condition()
        self._job: tuple[Any, tuple] | None = None
        self._done: tuple[Any, Refined] | None = None
        self._stopping = False
        self._name = name
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # the last failure (one line), cleared by the next success
        self.priority_problem: str | None = None  # why the thread could not take background priority

    def post(self, key: Any, mask: np.ndarray, guide_frame: np.ndarray | None, erode_px: float,
             feather_px: float, guided: bool, output_size: tuple[int, int], linear: bool,
             noise: bool = True) -> None:
        """noise: estimate the guide's noise too (only the temporal guide reads it: ~1 ms a mask)."""
        with self._cond:
            if self._stopping:
                return
            self._job = (key, (mask, guide_frame, erode_px, feather_px, guided, output_size, linear, noise))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def take(self) -> tuple[Any, Refined] | None:
        """The newest finished (key, refined mask) not taken yet, or None."""
        with self._cond:
            done, self._done = self._done, None
            return done

    def stop(self, timeout: float = 1.0) -> bool:
        with self._cond:
            self._stopping = True
            self._job = None
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self) -> None:
        # below OBS's rendering threads, like the worker
        self.priority_problem = thread_priority.lower_current_thread()
        while True:
            with self._cond:
                while self._job is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key, args = self._job
                self._job = None
            try:
                refined = refine_packed(*args)
            except Exception as e:  # a bad mask must not kill the thread: the filter shows the reason
                self.error = f"edge refinement failed: {e.__class__.__name__}: {e}"
                continue
            self.error = None
            with self._cond:
                self._done = (key, refined)
