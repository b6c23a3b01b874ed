"""Registers the filter type with libobs once per process and routes its C callbacks to Python objects.

- libobs keeps pointers to the id string and to every callback, and a type cannot be registered twice,
  so the struct and the callbacks live in a process-wide registry (on `builtins`): reloading the script
  swaps the Python implementation, never the registration.
- `create` returns an integer key into the registry's slot table; every other callback looks the
  instance up by that key. Every callback is guarded: an exception is logged and a safe default returned.
  A traceback is logged once (FailureLog: repeats are counted, not written: a render that fails on every frame
  would write 30-60 a second), and an instance whose render fails FAILED_RENDERS_BEFORE_PASSTHROUGH frames in
  a row passes the video through, with the reason in its status, until its settings change.
- Removal race (seen as a SIGSEGV in obs_source_skip_video_filter under create/remove churn): libobs'
  obs_source_filter_remove clears the filter's parent/target pointers from the removing thread
  (obs-websocket, UI) while the graphics thread may be inside our video_render, which then hands a
  NULL parent to libobs. libobs calls `filter_remove` just before it clears them, so that callback
  takes the instance's render lock (waiting for a render in progress) and marks the slot removed;
  later renders of a removed slot draw nothing and never touch the parent.
- Exit (OBS 29: UI ClearSceneData removes every source, unloads the script, waits for the destroy
  queue; Py_Finalize only comes later in obs_shutdown): script_unload stops the workers of instances
  whose source is being removed; their `destroy` still arrives afterwards, from the destruction thread,
  while Python is alive, and frees the GPU objects. An atexit hook (runs inside Py_Finalize) stops any
  worker still alive with a bounded wait and logs instances that outlived the scene (a leak in OBS or
  a plugin), so nothing waits forever and no worker thread is inside onnxruntime when Python goes.
- No video_tick: OBS 29's tick_sources calls every source's tick with obs->data.sources_mutex held, and our
  callback needs the GIL; a Python script holding the GIL while it calls something that takes that mutex
  (obspython keeps the GIL in its calls: obs_enum_sources, obs_get_source_by_name, as OBS's own url-text.py
  does from the UI thread) would deadlock with it. The filter's once-a-second work runs in video_render.
  OBS 30 and 31 tick without the mutex. (libobs still runs a changed filter's update in its tick, under the
  mutex in OBS 29: that window, a settings change, remains.)
"""
from __future__ import annotations

import atexit
import builtins
import ctypes as C
import threading
import traceback

from . import libobs as L

FILTER_ID = "obs_matting_filter"
DISPLAY_NAME = "AI Background Matting"
_REGISTRY_ATTR = "_obsmatte_filter_registry"
WORKER_STOP_WAIT_S = 2.0  # per worker; a model still loading cannot be interrupted
# frames in a row (not renders: a source in preview, program and a projector renders three times a frame): a
# second at 30 fps, long enough that one bad frame does not count
FAILED_RENDERS_BEFORE_PASSTHROUGH = 30
MAX_DISTINCT_FAILURES = 100  # tracebacks kept for counting; later new ones are only counted in `unlisted`

vp = C.c_void_p
GET_NAME = C.CFUNCTYPE(vp, vp)
CREATE = C.CFUNCTYPE(vp, vp, vp)
DESTROY = C.CFUNCTYPE(None, vp)
GET_SIZE = C.CFUNCTYPE(C.c_uint32, vp)
GET_DEFAULTS = C.CFUNCTYPE(None, vp)
GET_PROPERTIES = C.CFUNCTYPE(vp, vp)
UPDATE = C.CFUNCTYPE(None, vp, vp)
NOTIFY = C.CFUNCTYPE(None, vp)
VIDEO_TICK = C.CFUNCTYPE(None, vp, C.c_float)
VIDEO_RENDER = C.CFUNCTYPE(None, vp, vp)
FILTER_REMOVE = C.CFUNCTYPE(None, vp, vp)


class SourceInfo(C.Structure):
    """The leading fields of struct obs_source_info (libobs/obs-source.h; append-only ABI, the same
    up to filter_remove in OBS 27, 29 and current master). Unused slots stay NULL."""
    _fields_ = [("id", C.c_char_p), ("type", C.c_int), ("output_flags", C.c_uint32),
                ("get_name", GET_NAME), ("create", CREATE), ("destroy", DESTROY),
                ("get_width", GET_SIZE), ("get_height", GET_SIZE), ("get_defaults", GET_DEFAULTS),
                ("get_properties", GET_PROPERTIES), ("update", UPDATE),
                ("activate", NOTIFY), ("deactivate", NOTIFY), ("show", NOTIFY), ("hide", NOTIFY),
                ("video_tick", VIDEO_TICK), ("video_render", VIDEO_RENDER),
                ("filter_video", vp), ("filter_audio", vp), ("enum_active_sources", vp), ("save", vp),
                ("load", vp), ("mouse_click", vp), ("mouse_move", vp), ("mouse_wheel", vp), ("focus", vp),
                ("key_click", vp), ("filter_remove", FILTER_REMOVE)]


class Slot:
    """One filter instance plus what makes it safe against libobs' other threads."""

    def __init__(self, instance):
        self.instance = instance
        # held for a whole video_render; filter_remove and destroy take it too, so the
        # parent pointer cannot be cleared under a render in progress (re-entrant: libobs may remove a
        # filter on the graphics thread itself when a tick drops the parent's last reference)
        self.lock = threading.RLock()
        self.removed = False  # libobs is clearing (or has cleared) the filter's parent
        self.failed_renders = 0  # frames in a row whose video_render failed
        self.last_failed_frame: int | None = None  # obs_get_video_frame_time() of the last failed render
        self.passthrough: str | None = None  # why renders skip the filter (too many failures), or None


class Registry:
    """Process-wide state shared by every load of the script."""

    def __init__(self):
        self.lock = threading.Lock()
        self.slots: dict[int, Slot] = {}
        self.next_key = 1
        self.factory = None  # callable(settings, source) -> instance; swapped on script reload
        self.info: SourceInfo | None = None
        self.keep_alive: list = []  # ctypes objects libobs points at
        self.lingering: list = []  # workers that did not stop in time (e.g. still loading a model)
        self.finalizing = False  # set in Py_Finalize: callbacks become no-ops

    @property
    def instances(self) -> dict[int, object]:
        with self.lock:
            return {k: s.instance for k, s in self.slots.items()}

    def add(self, instance) -> int:
        with self.lock:
            key = self.next_key
            self.next_key += 1
            self.slots[key] = Slot(instance)
            return key

    def get(self, key) -> Slot | None:
        return self.slots.get(key) if key else None

    def pop(self, key) -> Slot | None:
        with self.lock:
            return self.slots.pop(key, None)


def registry() -> Registry:
    reg = getattr(builtins, _REGISTRY_ATTR, None)
    if reg is None:
        reg = Registry()
        setattr(builtins, _REGISTRY_ATTR, reg)
    return reg


class FailureLog:
    """Each distinct traceback of a callback goes to the OBS log once; repeats are counted and noted at 10, 100,
    1000... times, so a failure on every frame (30-60 a second) cannot flood the log."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str], int] = {}
        self.unlisted = 0  # failures not counted by traceback once MAX_DISTINCT_FAILURES were kept

    def record(self, callback: str, text: str) -> None:
        key = (callback, text)
        with self.lock:
            unlisted = key not in self.counts and len(self.counts) >= MAX_DISTINCT_FAILURES
            if unlisted:
                self.unlisted += 1
                count = self.unlisted
            else:
                count = self.counts[key] = self.counts.get(key, 0) + 1
        if unlisted:  # a failure whose text varies (a size, an index in it) filled the list: still say so
            if _is_power_of_ten(count):
                L.log(L.LOG_ERROR, f"{callback} failed in yet another way ({count} failures not listed "
                                   f"after the first {MAX_DISTINCT_FAILURES} kinds); the latest:\n{text}")
            return
        if count == 1:
            L.log(L.LOG_ERROR, f"{callback} failed:\n{text}")
        elif _is_power_of_ten(count):
            L.log(L.LOG_ERROR, f"{callback} failed again the same way ({count} times so far)")


def _is_power_of_ten(n: int) -> bool:
    while n % 10 == 0:
        n //= 10
    return n == 1


# module-level, not on the registry: the registry outlives a reload of this module (it lives on builtins), and
# the callbacks libobs calls are those of the first load, which read this module's globals
_failures = FailureLog()


def _log_failure(callback: str) -> None:
    """Log the exception being handled (once per distinct traceback); never raises."""
    try:
        _failures.record(callback, traceback.format_exc())
    except Exception:
        pass


def _guarded(fn, default=None):
    def call(*args):
        try:
            if registry().finalizing:
                return default
            return fn(*args)
        except Exception:
            _log_failure(fn.__name__)
            return default
    call.__name__ = fn.__name__
    return call


# -------------------------------------------------------------------------------------- callbacks
def _on_get_name(_type_data):
    return C.cast(registry().keep_alive[0], vp).value


def _on_create(settings, source):
    reg = registry()
    instance = reg.factory(settings, source)
    return reg.add(instance)


def _on_destroy(key):
    slot = registry().pop(key)
    if slot is None:
        return
    with slot.lock:  # libobs guarantees no render now (refcount 0); the lock costs nothing
        slot.removed = True
    slot.instance.destroy()


def _on_filter_remove(key, _parent):
    slot = registry().get(key)
    if slot is None:
        return
    with slot.lock:  # waits (GIL released) for a render of this instance on the graphics thread
        slot.removed = True


def _on_get_defaults(settings):
    from . import properties
    properties.set_defaults(settings)


def status_of(key) -> tuple[str, bool]:
    """The status line of the instance `key` and whether it reports a problem (("", False) when gone)."""
    slot = registry().get(key)
    if slot is None:
        return "", False
    return slot.instance.status_text(), slot.instance.problem() is not None


def _on_get_properties(key):
    from . import properties
    return properties.build_properties(*status_of(key))


def _on_update(key, settings):
    slot = registry().get(key)
    if slot is None:
        return
    slot.instance.update(settings)
    if slot.passthrough:  # new settings may not fail: try rendering again
        with slot.lock:
            slot.passthrough, slot.failed_renders = None, 0
            slot.instance.render_failed(None)


def _on_video_render(key, _effect):
    slot = registry().get(key)
    if slot is None:
        return
    with slot.lock:
        if slot.removed:
            return  # being removed: the parent pointer is (about to be) NULL; draw nothing this frame
        if slot.passthrough:
            slot.instance.pass_through()
            return
        try:
            slot.instance.video_render()
        except Exception:
            # never leave the parent undrawn: a failed frame passes the video through
            L.skip_video_filter(slot.instance.source)
            _render_failed(slot)
        else:
            slot.failed_renders = 0


def _render_failed(slot: Slot) -> None:
    """Log the failure (once per distinct traceback); after too many in a row, stop trying (with the slot's
    lock held)."""
    _log_failure("video_render")
    frame = L.obs_get_video_frame_time()
    if frame != slot.last_failed_frame:  # another view of a frame that already failed does not count again
        slot.last_failed_frame = frame
        slot.failed_renders += 1
    if slot.failed_renders < FAILED_RENDERS_BEFORE_PASSTHROUGH:
        return
    last_line = traceback.format_exc().strip().splitlines()[-1]
    slot.passthrough = (f"rendering failed on {slot.failed_renders} frames in a row ({last_line}); "
                        "changing a setting tries again")
    slot.instance.render_failed(slot.passthrough)


def register(factory) -> bool:
    """Register the type (first load) or swap the implementation (reload). True on first registration."""
    reg = registry()
    reg.factory = factory
    if reg.info is not None:
        return False
    name = C.create_string_buffer(DISPLAY_NAME.encode("utf-8"))
    type_id = C.create_string_buffer(FILTER_ID.encode())
    callbacks = dict(
        get_name=GET_NAME(_guarded(_on_get_name)),
        create=CREATE(_guarded(_on_create)),
        destroy=DESTROY(_guarded(_on_destroy)),
        get_defaults=GET_DEFAULTS(_guarded(_on_get_defaults)),
        get_properties=GET_PROPERTIES(_guarded(_on_get_properties)),
        update=UPDATE(_guarded(_on_update)),
        video_render=VIDEO_RENDER(_guarded(_on_video_render)),
        filter_remove=FILTER_REMOVE(_guarded(_on_filter_remove)),
    )
    info = SourceInfo(id=C.cast(type_id, C.c_char_p), type=L.OBS_SOURCE_TYPE_FILTER,
                      output_flags=L.OBS_SOURCE_VIDEO | L.OBS_SOURCE_SRGB, **callbacks)
    reg.keep_alive = [name, type_id, callbacks, info]
    reg.info = info
    L.obs_register_source_s(C.byref(info), C.sizeof(info))
    atexit.register(_on_interpreter_exit)  # once per process, like the registration
    return True


def is_registered() -> bool:
    return FILTER_ID in L.filter_type_ids()


# ------------------------------------------------------------------------------------------- exit
def _stop_workers(instances, why: str) -> None:
    """Stop the given instances' workers (bounded, GIL released while joining)."""
    reg = registry()
    for instance in instances:
        instance.stop_worker(WORKER_STOP_WAIT_S)
    for worker in list(reg.lingering):
        worker.stop(timeout=WORKER_STOP_WAIT_S)
    still = [w for w in reg.lingering if w.alive]
    reg.lingering = still
    if still:
        L.log(L.LOG_WARNING, f"{why}: {len(still)} worker thread(s) still busy after {WORKER_STOP_WAIT_S} s")


def on_script_unload() -> None:
    """script_unload: stop the workers of filters whose source OBS is removing (exit, scene collection
    switch). Their destroy comes later and only frees GPU objects. Filters that stay (a script reload)
    keep running."""
    reg = registry()
    with reg.lock:
        slots = list(reg.slots.values())
    leaving, staying = [], []
    for slot in slots:
        with slot.lock:  # the parent pointer cannot be cleared while we look at it
            if slot.removed or slot.instance.source_is_leaving():
                leaving.append(slot.instance)
            else:
                staying.append(slot.instance.describe())
    _stop_workers(leaving, "script unload")
    L.log(L.LOG_INFO, f"script unloading: {len(slots)} filter(s) alive, {len(leaving)} leaving with their source"
          + (f"; staying: {', '.join(staying)}" if staying else ""))


def _on_interpreter_exit() -> None:
    """Py_Finalize is starting (obs_shutdown, after the scene was cleared): nothing may run Python later."""
    reg = registry()
    with reg.lock:
        left = [s.instance for s in reg.slots.values()]
    if left:
        L.log(L.LOG_WARNING, f"Python is finalising with {len(left)} filter(s) never destroyed by OBS")
    _stop_workers(left, "interpreter exit")
    reg.finalizing = True
