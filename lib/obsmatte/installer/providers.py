"""Which onnxruntime build to install, and the pinned dependency list for each Python minor.

The inputs are facts a shell collected (OS name, GPU adapter names), so the choice is a pure function.
"""
from __future__ import annotations

from .failures import InstallError

ORT_CPU = "onnxruntime"
ORT_CUDA = "onnxruntime-gpu"
ORT_DIRECTML = "onnxruntime-directml"

# Pins resolved against PyPI's Windows wheels for each Python (pip install --dry-run --platform
# win_amd64 --python-version X): the newest releases that still ship wheels for that Python.
# onnxruntime 1.24+ dropped Python 3.10, numpy 2.3+ too. Checked the same way for manylinux and macOS.
PINS: dict[str, dict[str, str]] = {
    "3.10": {"numpy": "2.2.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.23.2", ORT_CUDA: "1.23.2", ORT_DIRECTML: "1.23.0"},
    "3.11": {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.31.1", ORT_CUDA: "1.31.1", ORT_DIRECTML: "1.24.4"},
    "3.12": {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.31.1", ORT_CUDA: "1.31.1", ORT_DIRECTML: "1.24.4"},
    # Linux only: distributions whose OBS links Python 3.13 (OBS on Windows refuses 3.13).
    "3.13": {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.31.1", ORT_CUDA: "1.31.1", ORT_DIRECTML: "1.24.4"},
}
BASE_PACKAGES = ("numpy", "opencv-python-headless", "mss")
ALL_ORT = (ORT_CPU, ORT_CUDA, ORT_DIRECTML)

# Adapter names that are not real GPUs (remote desktop, VM and fallback display drivers).
_NOT_A_GPU = ("basic display", "basic render", "remote display", "virtual", "vmware", "virtualbox",
              "hyper-v", "parsec", "citrix", "mirror", "displaylink", "llvmpipe", "qxl", "cirrus")


def normalise_os(name: str) -> str:
    n = name.strip().lower()
    if n in ("win32", "windows", "win", "nt", "cygwin", "msys"):
        return "windows"
    if n in ("darwin", "macos", "mac", "osx"):
        return "macos"
    if n.startswith("linux") or n in ("debian", "ubuntu"):
        return "linux"
    raise InstallError(f"unknown operating system {name!r}; expected windows, linux or macos")


def real_gpus(gpu_names: list[str]) -> list[str]:
    return [g for g in (s.strip() for s in gpu_names) if g and not any(x in g.lower() for x in _NOT_A_GPU)]


def choose_onnxruntime(os_name: str, gpu_names: list[str], force_cpu: bool = False) -> tuple[str, str]:
    """(package, reason). NVIDIA -> CUDA build (Windows/Linux); other GPUs on Windows -> DirectML;
    otherwise the CPU build (on macOS that build also carries CoreML)."""
    os_name = normalise_os(os_name)
    if force_cpu:
        return ORT_CPU, "CPU build requested"
    if os_name == "macos":
        return ORT_CPU, "macOS: the standard build includes CoreML"
    gpus = real_gpus(gpu_names)
    nvidia = [g for g in gpus if "nvidia" in g.lower() or "geforce" in g.lower() or "quadro" in g.lower()]
    if nvidia:
        return ORT_CUDA, f"NVIDIA GPU found ({nvidia[0]}): CUDA build"
    if os_name == "windows" and gpus:
        return ORT_DIRECTML, f"GPU found ({gpus[0]}): DirectML build"
    if gpus:
        return ORT_CPU, f"no NVIDIA GPU ({gpus[0]} is not used on {os_name}): CPU build"
    return ORT_CPU, "no GPU found: CPU build"


def pins_for_python(python_minor: str) -> dict[str, str]:
    if python_minor not in PINS:
        known = ", ".join(PINS)
        raise InstallError(f"no pinned packages for Python {python_minor} (this installer knows {known})")
    return PINS[python_minor]


def requirements(python_minor: str, ort_package: str) -> list[str]:
    """pip requirement specs, e.g. ['numpy==2.4.6', ..., 'onnxruntime-directml==1.24.4']."""
    pins = pins_for_python(python_minor)
    return [f"{name}=={pins[name]}" for name in (*BASE_PACKAGES, ort_package)]


def conflicting_onnxruntimes(ort_package: str, installed: dict[str, str]) -> list[str]:
    """Other onnxruntime builds that must be uninstalled first: they share the `onnxruntime` import
    name, and two of them in one site-packages break each other."""
    return sorted(p for p in ALL_ORT if p != ort_package and p in installed)


def missing_requirements(reqs: list[str], installed: dict[str, str]) -> list[str]:
    """The specs whose exact pinned version is not installed (installed: normalised name -> version)."""
    out = []
    for spec in reqs:
        name, _, version = spec.partition("==")
        if installed.get(name.lower()) != version:
            out.append(spec)
    return out


def installed_distributions() -> dict[str, str]:
    """name -> version of what the running Python has (names normalised the pip way)."""
    from importlib import metadata
    found = {}
    for dist in metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower().replace("_", "-")
        if name:
            found[name] = dist.version
    return found
