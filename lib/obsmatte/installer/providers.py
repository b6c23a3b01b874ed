"""Which onnxruntime build to install, and the pinned dependency list for each Python minor.

The inputs are facts a shell collected (OS name, GPU adapter names), so the choice is a pure function.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from .failures import InstallError

ORT_CPU = "onnxruntime"
ORT_CUDA = "onnxruntime-gpu"
ORT_DIRECTML = "onnxruntime-directml"

# Pins resolved against PyPI's Windows wheels for each Python (pip install --dry-run --platform
# win_amd64 --python-version X): the newest releases that still ship wheels for that Python.
# onnxruntime 1.24+ dropped Python 3.10, numpy 2.3+ too. Checked the same way for manylinux and macOS.
# The CUDA build's version depends on the NVIDIA driver too: CUDA_BUILDS below.
PINS: dict[str, dict[str, str]] = {
    "3.10": {"numpy": "2.2.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.23.2", ORT_DIRECTML: "1.23.0"},
    "3.11": {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.31.1", ORT_DIRECTML: "1.24.4"},
    "3.12": {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.31.1", ORT_DIRECTML: "1.24.4"},
    # Linux only: distributions whose OBS links Python 3.13 (OBS on Windows refuses 3.13).
    "3.13": {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0",
             ORT_CPU: "1.31.1", ORT_DIRECTML: "1.24.4"},
}

# onnxruntime-gpu on PyPI is built for one CUDA major per release (each wheel's METADATA: its `cuda` extra
# asks for nvidia-cuda-runtime 13.x from 1.27 on, nvidia-cuda-runtime-cu12 12.x up to 1.26). CUDA 13 needs
# NVIDIA driver 580+ and a GPU of compute capability 7.5+ (Turing on: it dropped Maxwell, Pascal and
# Volta, e.g. the GTX 10 series); CUDA 12 runs from driver 525 (Linux) / 528 (Windows) on Maxwell (5.0) on.
# So: the CUDA 13 build where driver and GPU allow it, else the newest CUDA 12 build, else no CUDA.
CUDA_BUILDS: dict[int, dict[str, str]] = {
    13: {"3.11": "1.31.1", "3.12": "1.31.1", "3.13": "1.31.1"},
    12: {"3.10": "1.23.2", "3.11": "1.26.0", "3.12": "1.26.0", "3.13": "1.26.0"},
}
CUDA_DRIVER_MIN = {13: {"linux": 580, "windows": 580}, 12: {"linux": 525, "windows": 528}}
CUDA_COMPUTE_MIN = {13: 7.5, 12: 5.0}
# The CUDA runtime and cuDNN come as pip packages (the build's own extras), so nobody has to install the
# CUDA toolkit or cuDNN by hand; runtime.py loads them (onnxruntime.preload_dlls) before a CUDA session.
CUDA_EXTRAS = "[cuda,cudnn]"
CUDA_LIBRARIES = {13: ("nvidia-cuda-runtime", "nvidia-cudnn-cu13"),
                  12: ("nvidia-cuda-runtime-cu12", "nvidia-cudnn-cu12")}
CUDA_DOWNLOAD_NOTE = "about 1.5 GB with the CUDA and cuDNN libraries"
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


@dataclass(frozen=True)
class OrtBuild:
    package: str
    reason: str
    cuda_major: int | None = None  # the CUDA build's CUDA major (CUDA_BUILDS)


def nvidia_driver_major(driver: str | None) -> int | None:
    """560 for nvidia-smi's '560.94' or for Windows' own form of the same driver, '32.0.15.6094' (its
    last five digits are NVIDIA's version: 560.94; the fourth field is a number, so 605.12 is
    '32.0.16.512'); None when unknown or unreadable."""
    text = (driver or "").strip()
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):  # the Windows driver store's form
        digits = (parts[2] + parts[3].zfill(4))[-5:]
        return int(digits[:3]) if len(digits) == 5 else None
    return int(parts[0]) if parts and parts[0].isdigit() else None


def cuda_major_for(os_name: str, driver: str | None, compute_capability: str | None,
                   python_minor: str) -> tuple[int | None, str]:
    """(CUDA major of the build to install, or None; why).

    CUDA 13 only where both the driver and the GPU are known to allow it: driver 580 is also the last
    branch for Maxwell, Pascal and Volta, so a driver alone does not say the GPU has CUDA 13 kernels.
    An unknown driver gets the CUDA 12 build on Windows (the NVIDIA driver is there whenever Windows names
    an NVIDIA adapter) and no CUDA build on Linux, where an NVIDIA card can run on nouveau, without the
    driver CUDA needs."""
    major = nvidia_driver_major(driver)
    try:
        compute = float(compute_capability) if compute_capability else None
    except ValueError:
        compute = None
    if major is None and os_name != "windows":
        return None, "the NVIDIA driver's version is unknown (no nvidia-smi, no /sys/module/nvidia/version)"
    refusals = []
    for cuda in (13, 12):
        if python_minor not in CUDA_BUILDS[cuda]:
            continue
        if cuda == 13 and (major is None or compute is None):
            continue
        if major is not None and major < CUDA_DRIVER_MIN[cuda][os_name]:
            refusals.append(f"CUDA {cuda} needs driver {CUDA_DRIVER_MIN[cuda][os_name]}+, this one is {driver}")
            continue
        if compute is not None and compute < CUDA_COMPUTE_MIN[cuda]:
            refusals.append(f"CUDA {cuda} needs compute capability {CUDA_COMPUTE_MIN[cuda]}+, this GPU has "
                            f"{compute_capability}")
            continue
        known = f"driver {driver}" if major is not None else "driver version unknown"
        return cuda, known + (f", compute capability {compute_capability}" if compute is not None else "")
    return None, "; ".join(refusals) or f"no CUDA build of onnxruntime for Python {python_minor}"


def choose_onnxruntime(os_name: str, gpu_names: list[str], force_cpu: bool = False, *, cuda: bool = False,
                       nvidia_driver: str | None = None, compute_capability: str | None = None,
                       python_minor: str | None = None) -> OrtBuild:
    """The onnxruntime build for this machine, and why.

    Windows, any real GPU: DirectML. It runs on every DirectX 12 GPU, NVIDIA's too, with nothing else to
    install; the CUDA build needs the CUDA runtime and cuDNN (~1.5 GB) matched to the driver, and without
    them silently runs on the CPU. NVIDIA users can ask for it (`cuda`). Linux, NVIDIA: the CUDA build
    (the only GPU build there) with its libraries, chosen for the driver (cuda_major_for); other GPUs and
    no GPU: the CPU build. macOS: the standard build, which carries CoreML."""
    os_name = normalise_os(os_name)
    python_minor = python_minor or f"{sys.version_info[0]}.{sys.version_info[1]}"
    if force_cpu:
        return OrtBuild(ORT_CPU, "CPU build requested")
    if os_name == "macos":
        return OrtBuild(ORT_CPU, "macOS: the standard build includes CoreML")
    gpus = real_gpus(gpu_names)
    nvidia = [g for g in gpus if any(k in g.lower() for k in ("nvidia", "geforce", "quadro"))]
    directml = (f"GPU found ({(nvidia or gpus or ['?'])[0]}): DirectML build (any DirectX 12 GPU, "
                f"nothing else to install)")
    if os_name == "windows" and gpus and not (cuda and nvidia):
        hint = "; -Cuda for the CUDA build" if nvidia else ("; -Cuda: no NVIDIA GPU found" if cuda else "")
        return OrtBuild(ORT_DIRECTML, directml + hint)
    if nvidia:
        major, why = cuda_major_for(os_name, nvidia_driver, compute_capability, python_minor)
        if major is None:
            if os_name == "windows":
                return OrtBuild(ORT_DIRECTML, f"no CUDA build fits ({why}): " + directml)
            return OrtBuild(ORT_CPU, f"NVIDIA GPU found ({nvidia[0]}) but no CUDA build fits ({why}): CPU build")
        return OrtBuild(ORT_CUDA, f"NVIDIA GPU found ({nvidia[0]}, {why}): CUDA {major} build "
                                  f"({CUDA_DOWNLOAD_NOTE})", major)
    if gpus:
        return OrtBuild(ORT_CPU, f"no NVIDIA GPU ({gpus[0]} is not used on {os_name}): CPU build")
    return OrtBuild(ORT_CPU, "no GPU found: CPU build")


def pins_for_python(python_minor: str) -> dict[str, str]:
    if python_minor not in PINS:
        known = ", ".join(PINS)
        raise InstallError(f"no pinned packages for Python {python_minor} (this installer knows {known})")
    return PINS[python_minor]


def requirements(python_minor: str, ort: str | OrtBuild) -> list[str]:
    """pip requirement specs, e.g. ['numpy==2.4.6', ..., 'onnxruntime-directml==1.24.4']; the CUDA build
    with its libraries: 'onnxruntime-gpu[cuda,cudnn]==1.31.1' (a bare package name: the newest CUDA
    build for this Python)."""
    pins = pins_for_python(python_minor)
    build = ort if isinstance(ort, OrtBuild) else OrtBuild(ort, "")
    if build.package == ORT_CUDA:
        major = build.cuda_major or next(m for m in (13, 12) if python_minor in CUDA_BUILDS[m])
        if python_minor not in CUDA_BUILDS[major]:
            raise InstallError(f"no CUDA {major} build of onnxruntime for Python {python_minor}")
        ort_spec = f"{ORT_CUDA}{CUDA_EXTRAS}=={CUDA_BUILDS[major][python_minor]}"
    else:
        ort_spec = f"{build.package}=={pins[build.package]}"
    return [f"{name}=={pins[name]}" for name in BASE_PACKAGES] + [ort_spec]


def _cuda_major_of(version: str) -> int | None:
    return next((m for m, by_python in CUDA_BUILDS.items() if version in by_python.values()), None)


def conflicting_onnxruntimes(ort_package: str, installed: dict[str, str]) -> list[str]:
    """Other onnxruntime builds that must be uninstalled first: they share the `onnxruntime` import
    name, and two of them in one site-packages break each other."""
    return sorted(p for p in ALL_ORT if p != ort_package and p in installed)


def missing_requirements(reqs: list[str], installed: dict[str, str]) -> list[str]:
    """The specs whose exact pinned version is not installed (installed: normalised name -> version); the
    CUDA build also when its CUDA libraries are not (an earlier install without them)."""
    out = []
    for spec in reqs:
        name, _, version = spec.partition("==")
        name, extras = name.partition("[")[0], "[" in name
        missing = installed.get(name.lower()) != version
        if extras and name == ORT_CUDA and not missing:
            missing = any(lib not in installed for lib in CUDA_LIBRARIES.get(_cuda_major_of(version), ()))
        if missing:
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
