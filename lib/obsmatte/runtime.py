"""onnxruntime sessions: which execution provider, fallback to CPU with a reason, threads, warm-up.

Device "auto" tries CUDA, DirectML, CoreML, then CPU, among what this onnxruntime build reports as
available. TensorRT only when asked for: every onnxruntime-gpu build offers it, but it needs NVIDIA's
TensorRT libraries (the installer does not put them in) and builds an engine for each model and input
size on its first run (seconds to minutes, the filter without a mask meanwhile), for models that take a
few milliseconds anyway; in "auto" it would fail on most machines and show a fallback on every
start. A GPU provider that fails to create the session, silently drops to CPU, or fails
on the warm-up run is abandoned for the next one; the reason is kept as a one-line message.
"""
from __future__ import annotations

import contextlib
import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import DeviceError, ModelError

PROVIDER_BY_DEVICE = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEVICE_BY_PROVIDER = {v: k for k, v in PROVIDER_BY_DEVICE.items()}
AUTO_ORDER = ("cuda", "directml", "coreml", "cpu")


def _ort():
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise DeviceError(f"onnxruntime is not installed in this Python ({e}); run the installer") from None
    return onnxruntime


def available_devices() -> list[str]:
    """Devices this onnxruntime build offers, in auto order with TensorRT after CUDA ('cpu' always last)."""
    providers = set(_ort().get_available_providers())
    order = ("cuda", "tensorrt", "directml", "coreml", "cpu")  # AUTO_ORDER, and TensorRT for those who ask
    return [d for d in order if PROVIDER_BY_DEVICE[d] in providers or d == "cpu"]


@dataclass
class SessionInfo:
    requested: str
    device: str  # what actually runs
    provider: str
    threads: int
    fallbacks: list[str] = field(default_factory=list)  # one line per abandoned device

    @property
    def fallback_reason(self) -> str | None:
        return "; ".join(self.fallbacks) or None

    def describe(self) -> str:
        text = f"{self.device.upper()} ({self.provider})"
        if self.fallbacks:
            text += f" — fell back: {self.fallback_reason}"
        return text


_preload_lock = threading.Lock()
_preload_failure: str | None = None  # the first library that would not load ('' = all did; None = not tried)


def preload_cuda_libraries(ort) -> str | None:
    """Load the CUDA runtime and cuDNN before a CUDA session, once per process; the first failure, if any.

    The installer puts them in as pip packages (onnxruntime-gpu's `cuda` and `cudnn` extras: no CUDA toolkit
    to install), where the CUDA provider does not look for them by itself: onnxruntime.preload_dlls
    (1.21+) loads them from there, else from the system's search path. It prints its failures rather than
    raising; they are kept for the fallback's reason. A CPU or DirectML build returns at once."""
    global _preload_failure
    with _preload_lock:
        if _preload_failure is None:
            printed = io.StringIO()
            preload = getattr(ort, "preload_dlls", None)
            try:
                if preload is not None:
                    with contextlib.redirect_stdout(printed):
                        preload()
            except Exception as e:  # a library folder that is not there, a DLL that crashes on load
                printed.write(f"Failed to load the CUDA libraries: {first_line(e)}\n")
            failures = [line for line in printed.getvalue().splitlines() if line.startswith("Failed to load")]
            _preload_failure = failures[0][:200] if failures else ""
        return _preload_failure or None


def _session_options(threads: int, device: str = "cpu"):
    ort = _ort()
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only: models with initializers-as-inputs spam warnings
    if threads > 0:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    # onnxruntime's worker threads busy-spin after each run by default; between masks that steals the
    # cores OBS and our own pre/post-processing need (measured: the pipeline's non-model steps ran ~2x
    # slower right after a run). Let them sleep instead.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if device == "directml":  # DirectML's memory is not byte-addressable: onnxruntime's docs ask for it off
        so.enable_mem_pattern = False
    return so


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:300]


def create_session(model_path: str | Path, device: str = "auto", threads: int = 0,
                   warmup: Callable[[object], None] | None = None):
    """Return (session, SessionInfo). Raises ModelError for a missing/corrupt model file.

    `warmup(session)` runs one inference; a GPU session that fails it is replaced by the next device.
    """
    ort = _ort()
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"model file not found: {model_path}")
    if model_path.stat().st_size == 0:
        raise ModelError(f"model file is empty: {model_path}")
    device = (device or "auto").lower()
    if device not in PROVIDER_BY_DEVICE and device != "auto":
        raise DeviceError(f"unknown device '{device}' (choose auto, {', '.join(PROVIDER_BY_DEVICE)})")
    available = set(ort.get_available_providers())
    fallbacks: list[str] = []
    if device == "auto":
        candidates = [d for d in AUTO_ORDER if PROVIDER_BY_DEVICE[d] in available or d == "cpu"]
    else:
        candidates = [device] if device == "cpu" else [device, "cpu"]
        if PROVIDER_BY_DEVICE[device] not in available and device != "cpu":
            fallbacks.append(f"{device}: not offered by this onnxruntime build "
                             f"(the installer puts in a GPU build: install.ps1, -Cuda for CUDA; install.sh)")
            # a GPU was asked for: the GPU this build does offer (a saved 'cuda' after the installer moved
            # Windows to DirectML) rather than the CPU
            candidates = [d for d in AUTO_ORDER if PROVIDER_BY_DEVICE[d] in available or d == "cpu"]
    cuda_libraries = ""  # named in a CUDA / TensorRT fallback's reason
    if any(d in ("cuda", "tensorrt") for d in candidates):
        failure = preload_cuda_libraries(ort)
        cuda_libraries = f" (CUDA libraries: {failure})" if failure else ""
    for dev in candidates:
        provider = PROVIDER_BY_DEVICE[dev]
        hint = cuda_libraries if dev in ("cuda", "tensorrt") else ""
        providers = [provider] if dev == "cpu" else [provider, "CPUExecutionProvider"]
        try:
            session = ort.InferenceSession(str(model_path), _session_options(threads, dev), providers=providers)
        except Exception as e:  # onnxruntime raises several types; all mean "cannot use this"
            if dev == "cpu" or _looks_like_bad_model(e):
                raise ModelError(f"cannot load model {model_path.name}: corrupt or not an ONNX model "
                                 f"({first_line(e)})") from None
            fallbacks.append(f"{dev}: session failed ({first_line(e)}){hint}")
            continue
        actual = session.get_providers()[0] if session.get_providers() else "CPUExecutionProvider"
        if actual != provider:
            fallbacks.append(f"{dev}: provider did not load (onnxruntime used {actual}){hint}")
            if dev != "cpu":
                continue
        if warmup is not None:
            try:
                warmup(session)
            except Exception as e:
                if dev == "cpu":
                    raise ModelError(f"model {model_path.name} failed its first run on the CPU "
                                     f"({first_line(e)})") from None
                fallbacks.append(f"{dev}: first run failed ({first_line(e)})")
                continue
        return session, SessionInfo(device, dev, provider, threads, fallbacks)
    raise DeviceError("no execution provider could run the model: " + "; ".join(fallbacks))


def _looks_like_bad_model(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("protobuf", "invalid_protobuf", "invalid_graph", "no graph",
                                   "load model", "model_path", "parse"))


def default_threads() -> int:
    """Leave a core for OBS itself: half the machine's cores, at least 1."""
    return max(1, (os.cpu_count() or 2) // 2)
