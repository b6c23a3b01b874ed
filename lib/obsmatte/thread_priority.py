"""Background priority for our own threads, so OBS's rendering never waits for the model.

The model and the edge refinement run on threads of OBS's own process. On a machine without a GPU,
OBS renders with the CPU too (llvmpipe), and at normal priority our threads take turns with its
rendering threads: measured with tools/bench_obs.py (alternating rounds), the filter's frame time was
0.88x OBS's built-in mask filter when inference was capped at 2 masks/s but 1.29x at the default 20,
with the same shader. At a lower priority the scheduler gives the render threads the cores first and
our threads the time they leave idle, which at 30 fps is most of it.

Per thread, never the whole process (OBS's own threads keep their priority):
- Linux: the thread's nice value raised by BACKGROUND_NICE (setpriority on the thread id; raising nice
  needs no privilege, and it is never lowered back);
- Windows: SetThreadPriority(THREAD_PRIORITY_BELOW_NORMAL);
- macOS: the thread's QoS class set to "utility".
Set OBSMATTE_THREAD_PRIORITY=normal to leave threads as they are (for side-by-side measurements).
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading

BACKGROUND_NICE = 10  # CFS weight 110 against 1024 at nice 0: ~1/10 of a contended core
ENV_VAR = "OBSMATTE_THREAD_PRIORITY"

_THREAD_PRIORITY_BELOW_NORMAL = -1
_QOS_CLASS_UTILITY = 0x11


def background_wanted() -> bool:
    return os.environ.get(ENV_VAR, "background").strip().lower() != "normal"


def lower_current_thread() -> str | None:
    """Give the calling thread background priority. Returns None on success (or when turned off by
    OBSMATTE_THREAD_PRIORITY=normal), else a one-line reason; never raises."""
    if not background_wanted():
        return None
    try:
        if sys.platform.startswith("linux"):
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + BACKGROUND_NICE))
            return None
        if sys.platform == "win32":
            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            kernel32.GetCurrentThread.restype = ctypes.c_void_p
            kernel32.SetThreadPriority.argtypes = (ctypes.c_void_p, ctypes.c_int)
            if not kernel32.SetThreadPriority(kernel32.GetCurrentThread(), _THREAD_PRIORITY_BELOW_NORMAL):
                return f"SetThreadPriority failed (error {ctypes.get_last_error()})"
            return None
        if sys.platform == "darwin":
            libc = ctypes.CDLL("/usr/lib/libSystem.B.dylib")
            libc.pthread_set_qos_class_self_np.argtypes = (ctypes.c_uint, ctypes.c_int)
            code = libc.pthread_set_qos_class_self_np(_QOS_CLASS_UTILITY, 0)
            return None if code == 0 else f"pthread_set_qos_class_self_np failed (error {code})"
        return f"no thread priority support on {sys.platform}"
    except (OSError, AttributeError) as e:
        return f"cannot lower the thread's priority: {e}"


def current_thread_nice() -> int | None:
    """The calling thread's nice value on Linux (None elsewhere): for tests and diagnostics."""
    if not sys.platform.startswith("linux"):
        return None
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
