"""onnxruntime session creation: provider order, fallback to CPU with a reason, bad model files."""
from __future__ import annotations

import types

import numpy as np
import pytest

from obsmatte import paths, runtime
from obsmatte.errors import DeviceError, ModelError
from obsmatte.models import create_matter

DEFAULT_MODEL = paths.MODELS_DIR / "mediapipe_selfie_landscape_144x256.onnx"


def test_cpu_session_runs_and_reports_itself():
    session, info = runtime.create_session(DEFAULT_MODEL, "cpu", threads=1)
    assert (info.device, info.provider, info.fallbacks) == ("cpu", "CPUExecutionProvider", [])
    out = session.run(None, {"input_1": np.zeros((1, 144, 256, 3), np.float32)})
    assert out[0].shape == (1, 144, 256, 1)


def test_auto_prefers_gpus_in_order_and_always_offers_cpu():
    assert runtime.available_devices()[-1] == "cpu"
    assert runtime.AUTO_ORDER == ("cuda", "directml", "coreml", "cpu")


def test_auto_leaves_tensorrt_out_and_a_chosen_tensorrt_falls_back_to_the_cpu(monkeypatch):
    """Every onnxruntime-gpu build offers TensorRT, which needs libraries the installer does not put in: in
    "auto" it would fail (and say 'fell back') on most machines; chosen, it is tried and falls back."""
    _fake_ort(monkeypatch, ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(runtime, "_preload_failure", "")

    class TensorrtFails(_FakeSession):
        def __init__(self, path, options, providers):
            if providers[0] == "TensorrtExecutionProvider":
                raise RuntimeError("libnvinfer.so.10: cannot open shared object file")
            super().__init__(path, options, providers)
    monkeypatch.setattr(runtime._ort(), "InferenceSession", TensorrtFails)
    session, info = runtime.create_session(DEFAULT_MODEL, "auto")
    assert (info.device, info.fallbacks) == ("cuda", [])
    session, info = runtime.create_session(DEFAULT_MODEL, "tensorrt")
    assert info.device == "cpu" and info.fallbacks[0].startswith("tensorrt: session failed (libnvinfer")
    assert runtime.available_devices() == ["cuda", "tensorrt", "cpu"]


def test_requesting_a_gpu_this_build_lacks_falls_back_with_a_reason():
    matter = create_matter("mediapipe_selfie_landscape", device="cuda")
    assert matter.info.device == "cpu"
    assert "cuda: not offered by this onnxruntime build" in matter.info.fallback_reason
    assert "fell back" in matter.info.describe()


def test_a_gpu_provider_that_silently_does_not_load_is_detected(monkeypatch):
    """onnxruntime drops a provider it cannot load to CPU with only a log line; we notice and say so."""
    ort = runtime._ort()
    real = ort.get_available_providers
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real()])
    session, info = runtime.create_session(DEFAULT_MODEL, "auto")
    assert info.device == "cpu"
    assert info.fallbacks and info.fallbacks[0].startswith("cuda:")


class _FakeSession:
    def __init__(self, path, options, providers):
        if providers[0] == "DmlExecutionProvider":
            raise RuntimeError("D3D12 device removed\nlong driver dump")
        self.providers = providers

    def get_providers(self):
        return list(self.providers)


def _fake_ort(monkeypatch, available):
    real = runtime._ort()
    fake = types.SimpleNamespace(
        get_available_providers=lambda: available, InferenceSession=_FakeSession,
        SessionOptions=real.SessionOptions, ExecutionMode=real.ExecutionMode,
        GraphOptimizationLevel=real.GraphOptimizationLevel)
    monkeypatch.setattr(runtime, "_ort", lambda: fake)


def test_gpu_session_failure_and_first_run_failure_fall_back_in_order(monkeypatch):
    _fake_ort(monkeypatch, ["CUDAExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider"])

    def warmup(session):
        if session.providers[0] == "CUDAExecutionProvider":
            raise RuntimeError("CUDA error: no kernel image is available")
    session, info = runtime.create_session(DEFAULT_MODEL, "auto", warmup=warmup)
    assert info.device == "cpu"
    assert info.fallbacks == ["cuda: first run failed (CUDA error: no kernel image is available)",
                              "directml: session failed (D3D12 device removed)"]


def test_cuda_libraries_are_loaded_once_before_a_cuda_session_and_a_failure_is_named(monkeypatch):
    """The installer puts the CUDA runtime and cuDNN in as pip packages, which the CUDA provider finds only
    after onnxruntime.preload_dlls; it prints what it cannot load, which the fallback's reason then names."""
    calls = []

    def preload_dlls():
        calls.append(1)
        print("Failed to load libcudnn.so.9: cannot open shared object file")
        print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA and CuDNN.")

    class CudaFails(_FakeSession):
        def __init__(self, path, options, providers):
            if providers[0] == "CUDAExecutionProvider":
                raise RuntimeError("libcudnn.so.9: cannot open shared object file")
            super().__init__(path, options, providers)
    _fake_ort(monkeypatch, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(runtime._ort(), "preload_dlls", preload_dlls, raising=False)
    monkeypatch.setattr(runtime._ort(), "InferenceSession", CudaFails)
    monkeypatch.setattr(runtime, "_preload_failure", None)
    for _ in range(2):
        session, info = runtime.create_session(DEFAULT_MODEL, "auto")
        assert info.device == "cpu"
        assert info.fallbacks == ["cuda: session failed (libcudnn.so.9: cannot open shared object file) "
                                  "(CUDA libraries: Failed to load libcudnn.so.9: cannot open shared object file)"]
    assert calls == [1]


def test_no_cuda_provider_means_no_cuda_libraries_are_loaded(monkeypatch):
    _fake_ort(monkeypatch, ["DmlExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(runtime._ort(), "preload_dlls", lambda: pytest.fail("loaded CUDA libraries"), raising=False)
    monkeypatch.setattr(runtime, "_preload_failure", None)
    runtime.create_session(DEFAULT_MODEL, "auto")


def test_missing_empty_and_corrupt_model_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        runtime.create_session(tmp_path / "none.onnx")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        runtime.create_session(empty)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(DEFAULT_MODEL.read_bytes()[:5000])
    with pytest.raises(ModelError, match="corrupt or not an ONNX model"):
        runtime.create_session(corrupt, "cpu")


def test_unknown_device_is_refused():
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        runtime.create_session(DEFAULT_MODEL, "tpu")


def test_a_gpu_device_this_build_lacks_goes_to_the_gpu_it_offers(monkeypatch):
    """A filter saved with Device 'cuda' on a build that has DirectML (the Windows installer's default now)
    runs on DirectML, saying why, rather than on the CPU."""
    class DmlWorks(_FakeSession):
        def __init__(self, path, options, providers):
            self.providers = providers
    _fake_ort(monkeypatch, ["DmlExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(runtime._ort(), "InferenceSession", DmlWorks)
    session, info = runtime.create_session(DEFAULT_MODEL, "cuda")
    assert info.device == "directml"
    assert info.fallbacks[0].startswith("cuda: not offered by this onnxruntime build")
