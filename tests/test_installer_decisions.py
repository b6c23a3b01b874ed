"""Installer decisions as tables: OBS version -> Python, GPU facts -> onnxruntime build, pins, models."""
from __future__ import annotations

import json
import re

import pytest

from obsmatte.installer import obs_versions, providers
from obsmatte.installer.failures import (EXIT_OBS_UNSUPPORTED, ModelChoiceError, ObsUnsupportedError)
from obsmatte.installer.model_choice import choose, license_notice
from obsmatte.installer.obs_versions import ini_name_for_obs, parse_version, python_for_obs


@pytest.mark.parametrize("obs, preferred, accepted, refused", [
    ("28.0", "3.10", ["3.10"], ["3.11", "3.12", "3.13"]),
    ("28.1.2", "3.10", ["3.10"], ["3.11"]),
    ("29.0.2", "3.10", ["3.10"], ["3.11", "3.12"]),
    ("29.1.0", "3.11", ["3.11", "3.10"], ["3.12", "3.13"]),
    ("30.0.2", "3.11", ["3.11", "3.10"], ["3.12"]),
    ("30.1.0", "3.12", ["3.12", "3.11", "3.10"], ["3.13"]),
    ("30.2.3", "3.12", ["3.12"], ["3.13"]),
    ("31.0.0-rc1", "3.12", ["3.12"], ["3.13"]),
    ("32.0.1.0", "3.12", ["3.12"], ["3.13"]),
])
def test_python_for_obs_table(obs, preferred, accepted, refused):
    choice = python_for_obs(obs)
    assert choice.preferred == preferred
    assert all(choice.accepts(p) for p in accepted)
    assert not any(choice.accepts(p) for p in refused)
    assert choice.warning == ""


def test_unknown_newer_obs_gets_newest_known_python_with_a_warning():
    choice = python_for_obs("34.1")
    assert choice.preferred == "3.12" and not choice.accepts("3.13")
    assert "newer than this installer knows" in choice.warning


@pytest.mark.parametrize("obs", ["27.2.4", "26.0", "0.0.1"])
def test_obs_older_than_28_is_refused_clearly(obs):
    with pytest.raises(ObsUnsupportedError, match=r"too old.*28\.0 or newer") as e:
        python_for_obs(obs)
    assert e.value.exit_code == EXIT_OBS_UNSUPPORTED


def test_garbage_version_is_a_clear_error():
    with pytest.raises(Exception, match="cannot read an OBS version"):
        parse_version("latest")


@pytest.mark.parametrize("obs, ini", [("28.0", "global.ini"), ("30.2.3", "global.ini"),
                                      ("31.0.0", "user.ini"), ("32.1", "user.ini")])
def test_ini_file_by_obs_version(obs, ini):
    assert ini_name_for_obs(obs) == ini


def test_ps1_reads_the_same_table_file():
    """install.ps1 has no table of its own: it reads obs_python_table.json, which must stay valid JSON."""
    ps1 = (obs_versions.TABLE_PATH.parents[3] / "install.ps1").read_text(encoding="utf-8")
    assert "obs_python_table.json" in ps1
    table = json.loads(obs_versions.TABLE_PATH.read_text(encoding="utf-8"))
    for row in table["rows"]:  # PowerShell compares [version]"a.b": keep every bound in that form
        assert re.fullmatch(r"\d+\.\d+", row["from"]) and re.fullmatch(r"\d+\.\d+", row["below"])


@pytest.mark.parametrize("os_name, gpus, cpu, package", [
    # Windows: DirectML for every real GPU, NVIDIA's too (the CUDA build needs ~1.5 GB of CUDA libraries
    # matched to the driver, and without them silently ran on the CPU)
    ("windows", ["NVIDIA GeForce RTX 3060"], False, "onnxruntime-directml"),
    ("windows", ["Intel(R) UHD Graphics 770", "NVIDIA GeForce RTX 4070"], False, "onnxruntime-directml"),
    ("windows", ["AMD Radeon RX 6600"], False, "onnxruntime-directml"),
    ("windows", ["Intel(R) Iris(R) Xe Graphics"], False, "onnxruntime-directml"),
    ("windows", ["Microsoft Basic Display Adapter"], False, "onnxruntime"),
    ("windows", ["Microsoft Remote Display Adapter", "Parsec Virtual Display Adapter"], False, "onnxruntime"),
    ("windows", [], False, "onnxruntime"),
    ("windows", ["NVIDIA GeForce RTX 3060"], True, "onnxruntime"),
    ("win32", ["AMD Radeon RX 6600"], True, "onnxruntime"),
    ("linux", ["NVIDIA Corporation GA106 [GeForce RTX 3060]"], False, "onnxruntime"),  # driver unknown: below
    ("linux", ["Advanced Micro Devices, Inc. [AMD/ATI] Navi 23"], False, "onnxruntime"),
    ("linux", ["llvmpipe (LLVM 15.0.6, 256 bits)"], False, "onnxruntime"),
    ("linux", [], False, "onnxruntime"),
    ("macos", ["Apple M2"], False, "onnxruntime"),
    ("darwin", ["NVIDIA GeForce GT 750M"], False, "onnxruntime"),
])
def test_provider_choice(os_name, gpus, cpu, package):
    assert providers.choose_onnxruntime(os_name, gpus, cpu, python_minor="3.12").package == package


# (os, driver, compute capability, python, --cuda) -> (package, CUDA major): onnxruntime-gpu 1.27+ is built
# for CUDA 13 (driver 580+, Turing and newer), up to 1.26 for CUDA 12 (driver 525/528+, Maxwell on)
@pytest.mark.parametrize("os_name, driver, compute, minor, cuda, expected", [
    ("linux", "580.95.05", "8.6", "3.11", False, ("onnxruntime-gpu", 13)),
    ("linux", "580.95.05", "6.1", "3.11", False, ("onnxruntime-gpu", 12)),  # GTX 1070: CUDA 13 dropped Pascal
    ("linux", "550.120", "8.9", "3.12", False, ("onnxruntime-gpu", 12)),  # driver too old for CUDA 13
    ("linux", "470.256.02", None, "3.11", False, ("onnxruntime", None)),  # too old for either
    ("linux", "580.95.05", "3.5", "3.11", False, ("onnxruntime", None)),  # Kepler
    ("linux", None, None, "3.11", False, ("onnxruntime", None)),  # no driver seen (nouveau?): no CUDA
    ("linux", "580.95.05", None, "3.11", False, ("onnxruntime-gpu", 12)),  # 580 also drives Pascal
    ("linux", "580.95.05", "[N/A]", "3.11", False, ("onnxruntime-gpu", 12)),
    ("linux", "580.95.05", "8.6", "3.10", False, ("onnxruntime-gpu", 12)),  # no CUDA 13 wheels for 3.10
    ("windows", "581.57", "8.9", "3.12", True, ("onnxruntime-gpu", 13)),
    ("windows", "32.0.15.8157", "8.9", "3.12", True, ("onnxruntime-gpu", 13)),  # Windows' form of 581.57
    ("windows", "32.0.15.8157", None, "3.12", True, ("onnxruntime-gpu", 12)),  # GPU unknown: CUDA 12
    ("windows", None, None, "3.12", True, ("onnxruntime-gpu", 12)),
    ("windows", "31.0.15.3713", None, "3.12", True, ("onnxruntime-gpu", 12)),  # 537.13
    ("windows", "27.21.14.5671", None, "3.12", True, ("onnxruntime-directml", None)),  # 456.71: DirectML
    ("windows", "581.57", "8.9", "3.12", False, ("onnxruntime-directml", None)),  # not asked for
])
def test_cuda_build_follows_the_driver_and_gpu(os_name, driver, compute, minor, cuda, expected):
    build = providers.choose_onnxruntime(os_name, ["NVIDIA GeForce RTX 4070"], cuda=cuda, nvidia_driver=driver,
                                         compute_capability=compute, python_minor=minor)
    assert (build.package, build.cuda_major) == expected, build.reason
    if build.package == "onnxruntime-gpu":
        spec = providers.requirements(minor, build)[-1]
        assert spec == f"onnxruntime-gpu[cuda,cudnn]=={providers.CUDA_BUILDS[build.cuda_major][minor]}"
        assert f"CUDA {build.cuda_major} build" in build.reason


def test_cuda_asked_for_without_an_nvidia_gpu_says_why():
    build = providers.choose_onnxruntime("windows", ["AMD Radeon RX 6600"], cuda=True, python_minor="3.12")
    assert build.package == "onnxruntime-directml" and "no NVIDIA GPU" in build.reason


@pytest.mark.parametrize("text, major", [("560.94", 560), ("580.95.05", 580), ("32.0.15.6094", 560),
                                         ("31.0.15.3713", 537), ("32.0.16.512", 605), ("", None), (None, None), ("n/a", None)])
def test_nvidia_driver_versions_in_both_forms(text, major):
    assert providers.nvidia_driver_major(text) == major


def test_unknown_os_is_a_clear_error():
    with pytest.raises(Exception, match="unknown operating system"):
        providers.choose_onnxruntime("beos", [])


@pytest.mark.parametrize("minor", ["3.10", "3.11", "3.12"])
@pytest.mark.parametrize("ort", providers.ALL_ORT)
def test_requirements_are_pinned_for_every_python_obs_can_load(minor, ort):
    reqs = providers.requirements(minor, ort)
    names = [r.split("==")[0].split("[")[0] for r in reqs]
    assert names == ["numpy", "opencv-python-headless", "mss", ort]
    assert all(re.fullmatch(r"[a-z-]+(\[[a-z,]+\])?==\d+(\.\d+)+", r) for r in reqs)


def test_every_table_python_has_pins():
    table = obs_versions.load_table()
    for row in table["rows"]:
        for minor in row["pythons"]:
            providers.pins_for_python(minor)


def test_missing_and_conflicting_packages():
    reqs = providers.requirements("3.11", "onnxruntime-directml")
    installed = {"numpy": "2.4.6", "opencv-python-headless": "4.8.0.76", "mss": "10.2.0", "onnxruntime": "1.31.1"}
    assert providers.missing_requirements(reqs, installed) == ["opencv-python-headless==5.0.0.93", "onnxruntime-directml==1.24.4"]
    assert providers.conflicting_onnxruntimes("onnxruntime-directml", installed) == ["onnxruntime"]
    assert providers.conflicting_onnxruntimes("onnxruntime", installed) == []


def test_cuda_build_without_its_libraries_is_missing():
    """An earlier install put the CUDA build in without the CUDA and cuDNN packages: it must go in again."""
    build = providers.OrtBuild("onnxruntime-gpu", "", 13)
    spec = providers.requirements("3.12", build)[-1]
    installed = {"numpy": "2.4.6", "opencv-python-headless": "5.0.0.93", "mss": "10.2.0", "onnxruntime-gpu": "1.31.1"}
    assert providers.missing_requirements(providers.requirements("3.12", build), installed) == [spec]
    installed.update({"nvidia-cuda-runtime": "13.0.96", "nvidia-cudnn-cu13": "9.14.0.64"})
    assert providers.missing_requirements(providers.requirements("3.12", build), installed) == []
    installed["onnxruntime-gpu"] = "1.26.0"  # the CUDA 12 build is not the CUDA 13 one
    assert providers.missing_requirements(providers.requirements("3.12", build), installed) == [spec]


def test_this_venv_matches_the_pins_for_its_python():
    """The dev venv is made with Debian's Python (what OBS links): the pins must describe it."""
    import sys
    reqs = providers.requirements(f"{sys.version_info[0]}.{sys.version_info[1]}", "onnxruntime")
    missing = providers.missing_requirements(reqs, providers.installed_distributions())
    assert missing == [], f"{missing}: setup.sh installs the pins from `python -m obsmatte.installer requirements`"


def test_model_choice_from_the_real_manifest():
    chosen, notes = choose(["rvm_mobilenetv3", "mediapipe_selfie_landscape"])
    assert [m.id for m in chosen] == ["rvm_mobilenetv3"]
    rvm = chosen[0]
    assert rvm.expected.size == 14975696 and len(rvm.expected.sha256) == 64
    assert rvm.license == "GPL-3.0" and "GPL-3.0" in license_notice(rvm)
    assert "included" in notes[0]


@pytest.mark.parametrize("mid, message", [("nope", "unknown model"), ("meet_segmentation", "cannot be downloaded")])
def test_model_choice_refusals(mid, message):
    with pytest.raises(ModelChoiceError, match=message):
        choose([mid])


# OBS on macOS appends Python.framework/Versions/... to its Python path: before 31.0.2 it loads only the one
# Versions/Current points to, from 31.0.2 the newest installed one it accepts (it tries 3.12 down)
@pytest.mark.parametrize("obs, installed, current, expected", [
    ("31.1.2", ["3.11", "3.12", "3.13"], "3.13", "3.12"),  # 3.13: OBS does not try it
    ("32.0.1", ["3.10", "3.11"], "3.10", "3.11"),
    ("30.2.3", ["3.11", "3.12"], "3.11", "3.11"),  # Current decides, not the newest
    ("31.0.0", ["3.12", "3.13"], "3.13", None),  # Current is one OBS cannot load
    ("31.0.3", ["3.11", "3.12"], "3.11", "3.12"),  # 31.0.2 already looks past Current
    ("31.0.1", ["3.11", "3.12"], "3.12", "3.12"),
    ("30.0.4", ["3.11"], None, None),  # no Current link
    ("29.0.1", ["3.10", "3.11"], "3.11", None),  # OBS 28-29.0 load 3.10 only
    ("31.1.0", ["3.9"], "3.9", None),
])
def test_macos_python_is_the_one_obs_will_load(obs, installed, current, expected):
    if expected is None:
        with pytest.raises(Exception) as e:
            obs_versions.macos_framework_python(obs, installed, current)
        assert e.value.exit_code == 12
        assert ("Versions/Current" in str(e.value)) == (parse_version(obs) < (31, 0, 2))
    else:
        assert obs_versions.macos_framework_python(obs, installed, current) == expected


def test_macos_current_pointing_at_a_python_that_is_gone_says_so():
    with pytest.raises(Exception, match="points to 3.12, which is not installed.*Python 3.11 again"):
        obs_versions.macos_framework_python("30.2.3", ["3.11"], "3.12")
