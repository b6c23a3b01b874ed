"""Our threads take background priority (OBS's rendering goes first), per thread, never the process."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from obsmatte import thread_priority
from obsmatte.settings import MatteSettings
from obsmatte.worker import MattingWorker

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice values per thread are Linux's")


def _in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.update(result=fn()))
    t.start()
    t.join()
    return out["result"]


@linux_only
def test_lowering_touches_only_the_calling_thread(monkeypatch):
    monkeypatch.delenv(thread_priority.ENV_VAR, raising=False)
    main_before = thread_priority.current_thread_nice()

    def lower_and_read():
        before = thread_priority.current_thread_nice()
        problem = thread_priority.lower_current_thread()
        return before, problem, thread_priority.current_thread_nice()
    before, problem, after = _in_thread(lower_and_read)
    assert problem is None
    assert after == min(19, before + thread_priority.BACKGROUND_NICE)
    assert thread_priority.current_thread_nice() == main_before, "the caller's (OBS's) threads keep theirs"
    assert _in_thread(thread_priority.current_thread_nice) == main_before, "new threads start as before"


@linux_only
def test_normal_priority_can_be_asked_for(monkeypatch):
    monkeypatch.setenv(thread_priority.ENV_VAR, "normal")
    before = thread_priority.current_thread_nice()
    assert _in_thread(lambda: (thread_priority.lower_current_thread(), thread_priority.current_thread_nice())) \
        == (None, before)


@linux_only
def test_the_worker_thread_runs_at_background_priority(monkeypatch):
    import os
    monkeypatch.delenv(thread_priority.ENV_VAR, raising=False)
    worker = MattingWorker(MatteSettings()).start()
    try:
        worker.submit(np.zeros((180, 320, 3), np.uint8), 1, 0.0)
        for _ in range(200):
            if worker.latest() is not None:
                break
            threading.Event().wait(0.05)
        nice = os.getpriority(os.PRIO_PROCESS, worker._thread.native_id)
        assert nice == min(19, thread_priority.current_thread_nice() + thread_priority.BACKGROUND_NICE)
        assert worker.priority_problem is None
    finally:
        worker.stop()
