"""Run the real OBS Studio headless (Xvfb + llvmpipe) with a generated config, for tests and benchmarks.

Plain Python (does not load libobs). Everything OBS writes goes to a private XDG_CONFIG_HOME; Xvfb and
OBS are started by pid and always stopped by pid (SIGINT, wait, then SIGKILL).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths

COLLECTION = PROFILE = "Matting"
SCENE = "Scene"
OBS_29_0_2 = (29 << 24) | (0 << 16) | 2  # global.ini LastVersion: suppresses the first-run wizard


@dataclass
class SourceSpec:
    name: str
    kind: str  # image_source | ffmpeg_source | ...
    settings: dict
    filters: list[dict] = field(default_factory=list)  # [{"id":..., "name":..., "settings":...}]
    private_settings: dict = field(default_factory=dict)  # e.g. {"mixer_hidden": True}


def media_source(name: str, path: Path, filters: list[dict] | None = None, looping: bool = True,
                 **settings) -> SourceSpec:
    """A media source (ffmpeg_source: async frames, like a webcam) playing `path`, hidden from the audio
    mixer (OBS 29.0.2 itself now and then crashes or hangs at exit tearing down a media source's volume
    meter under CPU load: tests/obs/conftest.py media_source). `settings` adds to or overrides its settings."""
    return SourceSpec(name, "ffmpeg_source", {"local_file": str(path), "is_local_file": True, "looping": looping,
                                              **settings}, list(filters or []), private_settings={"mixer_hidden": True})


def decode_screenshot(image_data: str):
    """GetSourceScreenshot's image data (a PNG data URL) as a BGRA uint8 array, or None if it is not one."""
    import base64

    import cv2
    import numpy as np
    data = base64.b64decode(image_data.split(",", 1)[1])
    bgra = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return bgra if bgra is not None and bgra.ndim == 3 and bgra.shape[2] == 4 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_site_packages() -> Path:
    return paths.ROOT / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def write_collection(config_home: Path, name: str, sources: list[SourceSpec], script: Path | None) -> None:
    """basic/scenes/<name>.json: one scene holding every source, the script loaded with the collection."""
    items = [{"name": s.name, "id": i + 1, "visible": True, "locked": False, "rot": 0.0,
              "pos": {"x": 0.0, "y": 0.0}, "scale": {"x": 1.0, "y": 1.0}, "align": 5, "bounds_type": 0,
              "bounds_align": 0, "bounds": {"x": 0.0, "y": 0.0}, "crop_left": 0, "crop_top": 0,
              "crop_right": 0, "crop_bottom": 0, "scale_filter": "disable", "blend_method": "default",
              "blend_type": "normal"} for i, s in enumerate(sources)]
    scene_sources = [{"id": "scene", "versioned_id": "scene", "name": SCENE, "enabled": True, "flags": 0,
                      "settings": {"id_counter": len(items), "custom_size": False, "items": items},
                      "filters": []}]
    for s in sources:
        scene_sources.append({
            "id": s.kind, "versioned_id": s.kind, "name": s.name, "enabled": True, "flags": 0,
            "settings": s.settings, "private_settings": s.private_settings,
            "filters": [{"id": f["id"], "versioned_id": f["id"], "name": f["name"], "enabled": True,
                         "settings": f.get("settings", {})} for f in s.filters]})
    collection = {
        "name": name, "current_scene": SCENE, "current_program_scene": SCENE,
        "scene_order": [{"name": SCENE}], "current_transition": "Fade", "transition_duration": 300,
        "transitions": [], "groups": [], "quick_transitions": [], "saved_projectors": [],
        "preview_locked": False, "scaling_enabled": False, "sources": scene_sources,
        "modules": {"scripts-tool": [{"path": str(script), "settings": {}}] if script else []},
    }
    folder = config_home / "obs-studio" / "basic" / "scenes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(collection, indent=1))


def write_config(config_home: Path, sources: list[SourceSpec], script: Path | None, port: int,
                 size: tuple[int, int] = (1280, 720), fps: int = 30,
                 extra_collections: dict[str, list[SourceSpec]] | None = None) -> None:
    """The profile, global.ini and the collection OBS starts with (plus others to switch to)."""
    root = config_home / "obs-studio"
    (root / "basic" / "profiles" / PROFILE).mkdir(parents=True, exist_ok=True)
    (root / "basic" / "scenes").mkdir(parents=True, exist_ok=True)
    (root / "global.ini").write_text(f"""[General]
FirstRun=true
LastVersion={OBS_29_0_2}
Pre19Defaults=false
Pre21Defaults=false
Pre23Defaults=false
Pre24.1Defaults=false
EnableAutoUpdates=false
ConfirmOnExit=false

[Basic]
Profile={PROFILE}
ProfileDir={PROFILE}
SceneCollection={COLLECTION}
SceneCollectionFile={COLLECTION}
ConfigOnNewProfile=false

[BasicWindow]
SysTrayEnabled=false
SysTrayWhenStarted=false
ShowTransitions=false

[OBSWebSocket]
FirstLoad=false
ServerEnabled=true
ServerPort={port}
AlertsEnabled=false
AuthRequired=false
ServerPassword=
""")
    (root / "basic" / "profiles" / PROFILE / "basic.ini").write_text(f"""[General]
Name={PROFILE}

[Video]
BaseCX={size[0]}
BaseCY={size[1]}
OutputCX={size[0]}
OutputCY={size[1]}
FPSType=1
FPSInt={fps}
ScaleType=bicubic
ColorFormat=NV12
ColorSpace=709
ColorRange=Partial

[Output]
Mode=Simple

[Audio]
SampleRate=48000
ChannelSetup=Stereo
""")
    write_collection(config_home, COLLECTION, sources, script)
    for name, extra in (extra_collections or {}).items():
        write_collection(config_home, name, extra, script)


# debug switch: set to 1 to save every thread's backtrace (gdb) to hang_backtrace.txt when OBS does not
# exit on SIGINT (attaching takes a while, so it is off by default)
CORE_DUMP_ENV = "OBSMATTE_OBS_CORE_DUMPS"
REPORT_LOG_LINES = 25
CRASH_REPORTS: list[str] = []  # every report made in this process (tests print them at the very end)


def _allow_core_dump() -> None:
    """Runs in the child before exec: a crash writes a core file (with core_pattern 'core': into the
    workdir, OBS's cwd), which crash_report() reads with gdb. A CI run keeps only what the tests print,
    so a crash must be explained there and then."""
    import resource  # POSIX only, like Xvfb
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def core_backtrace(core: Path, executable: str = "obs") -> str:
    """The list of threads and the crashing thread's backtrace from a core file (gdb), or why not."""
    exe = shutil.which(executable) or executable
    try:
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "info threads",
                            "-ex", "bt 30", exe, str(core)],
                           capture_output=True, text=True, errors="replace", timeout=180)
    except (OSError, subprocess.SubprocessError) as e:
        return f"(no backtrace: gdb failed: {e!r})"
    # gdb's chatter about missing debug symbols says nothing about the crash
    lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith(("warning:", "[New LWP"))]
    return "\n".join(lines)


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


def start_xvfb(width: int, height: int, timeout: float = 10.0) -> tuple[subprocess.Popen, int]:
    """A private X server (Xvfb) on a free display number: (its process, the display number). Stop it with
    terminate(); raises RuntimeError (the server stopped) when it does not come up within `timeout`."""
    display = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not Path(f"/tmp/.X11-unix/X{display}").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            raise RuntimeError("Xvfb did not start")
        time.sleep(0.05)
    return proc, display


def dump_threads(pid: int, out: Path) -> None:
    """Debug: every thread's backtrace of a hung process (gdb attaches, prints, detaches)."""
    try:
        with open(out, "wb") as f:
            subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "set pagination off",
                            "-ex", "thread apply all bt 30"], stdout=f, stderr=subprocess.STDOUT, timeout=120)
    except (OSError, subprocess.SubprocessError):
        pass


def _stop(proc: subprocess.Popen | None, first_signal: int, wait_s: float,
          hang_dump: Path | None = None) -> int | None:
    """Signal a process we started, wait, then SIGKILL. Returns its exit code (negative = signal)."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(first_signal)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            if hang_dump is not None:
                dump_threads(proc.pid, hang_dump)
            proc.kill()
            return proc.wait(10)
    return proc.returncode


class HeadlessObs:
    """Xvfb + OBS with a generated config. Use as a context manager or call start()/stop()."""

    def __init__(self, workdir: Path, sources: list[SourceSpec], script: Path | None = None,
                 extra_env: dict | None = None, size: tuple[int, int] = (1280, 720), fps: int = 30,
                 extra_collections: dict[str, list[SourceSpec]] | None = None):
        self.workdir = Path(workdir)
        self.sources, self.script, self.size, self.fps = sources, script, size, fps
        self.extra_env = extra_env or {}
        self.extra_collections = extra_collections or {}
        self.port = free_port()
        self.config_home = self.workdir / "config"
        self.xvfb: subprocess.Popen | None = None
        self.obs: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.killed = False
        self._backtraces: dict[Path, str] = {}

    def env(self, display: int) -> dict:
        runtime = self.workdir / "xdg-runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        # opencv-python points Qt at its own plugins when imported in this process; OBS must not see that
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_") and k != "PYTHONPATH"}
        env.update(DISPLAY=f":{display}", XDG_CONFIG_HOME=str(self.config_home),
                   XDG_RUNTIME_DIR=str(runtime), LIBGL_ALWAYS_SOFTWARE="1", QT_QPA_PLATFORM="xcb",
                   PYTHONPATH=str(venv_site_packages()), PYTHONUNBUFFERED="1",
                   # a fault prints every Python thread's stack to OBS's stdout (see crash_report)
                   PYTHONFAULTHANDLER="1")
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> "HeadlessObs":
        write_config(self.config_home, self.sources, self.script, self.port, self.size, self.fps,
                     self.extra_collections)
        self.xvfb, display = start_xvfb(*self.size)
        self.display = display
        self.stdout = open(self.workdir / "obs_stdout.txt", "wb")
        self.obs = subprocess.Popen(["obs", "--multi", "--collection", COLLECTION, "--profile", PROFILE,
                                     "--scene", SCENE], env=self.env(display), cwd=str(self.workdir),
                                    stdout=self.stdout, stderr=subprocess.STDOUT, preexec_fn=_allow_core_dump)
        try:
            self.wait_for_websocket(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def client(self, timeout: float = 10.0):
        import obsws_python as obsws
        return obsws.ReqClient(host="127.0.0.1", port=self.port, password="", timeout=timeout)

    def wait_for_websocket(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.obs.poll() is not None:
                raise RuntimeError(f"OBS exited during startup with code {self.obs.returncode}; see {self.log_path()}")
            try:
                c = self.client(timeout=2)
                c.get_version()
                c.disconnect()
                return
            except Exception as e:  # not listening yet
                last = e
                time.sleep(0.3)
        raise RuntimeError(f"obs-websocket did not answer within {timeout} s ({last!r})")

    def alive(self) -> bool:
        return self.obs is not None and self.obs.poll() is None

    def stop(self, wait_s: float = 30.0) -> int | None:
        """SIGINT OBS (its clean shutdown), SIGKILL if it hangs; then Xvfb. Returns OBS's exit code."""
        if self.obs is not None and self.exit_code is None:
            running = self.obs.poll() is None
            dump = self.workdir / "hang_backtrace.txt" if os.environ.get(CORE_DUMP_ENV) else None
            self.exit_code = _stop(self.obs, signal.SIGINT, wait_s, dump)
            self.killed = running and self.exit_code == -signal.SIGKILL
        _stop(self.xvfb, signal.SIGTERM, 5)
        self.xvfb = None
        if getattr(self, "stdout", None):
            self.stdout.close()
        return self.exit_code

    def log_path(self) -> Path | None:
        logs = sorted((self.config_home / "obs-studio" / "logs").glob("*.txt"), key=lambda p: p.stat().st_mtime)
        return logs[-1] if logs else None

    def log_text(self) -> str:
        p = self.log_path()
        return p.read_text(errors="replace") if p else ""

    def crash_report(self) -> str:
        """What explains an exit that was not clean, for a test's failure message: the end of OBS's log,
        Python's fault handler output (PYTHONFAULTHANDLER: every Python thread's stack at the fault) and,
        last (a CI log is read from its end), the crashing thread's backtrace from the core file. Empty
        after a clean exit. Also kept in CRASH_REPORTS for the end of the test run's output."""
        if self.exit_code == 0 and not self.killed:
            return ""
        parts = [f"OBS exit code {self.exit_code}{' (killed after a hang)' if self.killed else ''} "
                 f"in {self.workdir}"]
        tail = self.log_text().splitlines()[-REPORT_LOG_LINES:]
        parts.append(f"--- end of OBS's log ({self.log_path()}) ---\n" + "\n".join(tail))
        out = self.workdir / "obs_stdout.txt"
        text = out.read_text(errors="replace") if out.is_file() else ""
        fault = text.find("Fatal Python error")
        if fault >= 0:
            parts.append(f"--- Python fault handler ---\n{text[fault:][:4000]}")
        hang = self.workdir / "hang_backtrace.txt"
        if hang.is_file():
            parts.append(f"--- threads at the hang ({hang}) ---\n{hang.read_text(errors='replace')[-6000:]}")
        for core in sorted(self.workdir.glob("core*")):
            parts.append(f"--- backtrace ({core.name}) ---\n{self.backtrace(core)}")
        known = self.known_upstream_crash()
        if known:
            parts.insert(1, f"--- a known crash of OBS itself, not of the filter: {known} ---")
        report = "\n".join(parts)
        if report not in CRASH_REPORTS:
            CRASH_REPORTS.append(report)
        return report

    def backtrace(self, core: Path) -> str:
        """core_backtrace, read once per core file."""
        if core not in self._backtraces:
            self._backtraces[core] = core_backtrace(core)
        return self._backtraces[core]

    def known_upstream_crash(self) -> str | None:
        """Why this unclean exit is OBS's own known exit crash, or None (then it counts against us).

        OBS 29.0.2 ships obs-websocket 5.1, whose server stops listening on the main thread during its
        module unload while its IO thread may be inside the aborted accept's handler, which starts a new
        accept on the closing socket: a SIGSEGV in WebSocketServer::ServerRunner (upstream issue
        obsproject/obs-websocket#1180, fixed in 2024 after 5.1). It comes in obs-websocket's own thread
        after every scene and source is gone and our script has unloaded (once in about 160 exits here);
        the tests need obs-websocket to drive OBS. Recognised only by all of: the signal, the crashing
        thread's frames in obs-websocket's server runner, and OBS's log ending at obs-websocket's unload."""
        if self.exit_code != -signal.SIGSEGV:
            return None
        cores = sorted(self.workdir.glob("core*"))
        if not cores:
            return None
        # the crashing thread's frames ("#N ..."; gdb's thread table lines start with the thread's number)
        frames = "\n".join(ln for ln in self.backtrace(cores[0]).splitlines() if re.match(r"#\d+\s", ln))
        if "WebSocketServer::ServerRunner" not in frames or "obs-websocket.so" not in frames:
            return None
        lines = [ln for ln in self.log_text().splitlines() if ln.strip()]
        if not lines or "[obs-websocket] [obs_module_unload]" not in lines[-1]:
            return None
        return ("SIGSEGV in obs-websocket's server thread during its module unload "
                "(obsproject/obs-websocket#1180, fixed upstream after the 5.1 that OBS 29.0.2 ships)")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
