"""The model with a GPU (settings.gpu_model): a model that runs instead of 'Model' when the device turns
out to be a GPU and the model is installed (the Low light preset asks for RVM). This machine has no GPU:
the CPU paths run for real (onnxruntime's own provider list, the real RVM file); the GPU path is shown
with a real RVM session whose reported device is set to a GPU's."""
from __future__ import annotations

import numpy as np
import pytest

from obsmatte import paths, pipeline as pipeline_module, runtime
from obsmatte.models import RvmMatter, create_matter
from obsmatte.pipeline import MaskPipeline
from obsmatte.presets import get_preset
from obsmatte.settings import MatteSettings

RVM = "rvm_mobilenetv3"


@pytest.fixture
def search(shared_models_dir):
    return [paths.MODELS_DIR, shared_models_dir]


def test_low_light_preset_asks_for_rvm_and_keeps_its_two_models_without_a_gpu(search):
    settings = get_preset("low_light").apply()
    assert settings.gpu_model == RVM
    assert runtime.available_devices() == ["cpu"], "this test describes a machine without a GPU"
    pipeline = MaskPipeline(settings, search_dirs=search)
    assert not isinstance(pipeline.model, RvmMatter)
    assert pipeline.active_model == "mediapipe_selfie_general + mediapipe_selfie_landscape"
    assert pipeline.gpu_note == f"{RVM} not used: no GPU in this onnxruntime build"


def test_device_cpu_never_tries_the_gpu_model(search, monkeypatch):
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cuda", "cpu"])
    pipeline = MaskPipeline(MatteSettings({"gpu_model": RVM, "device": "cpu"}), search_dirs=search)
    assert pipeline.gpu_note == f"{RVM} not used: the device is CPU"
    assert pipeline.active_model == "mediapipe_selfie_landscape"


def test_a_gpu_that_does_not_run_it_lets_it_go(search, monkeypatch):
    """A GPU provider said to be there (as a build that lists CUDA without its libraries does) while the
    real onnxruntime session lands on the CPU: the GPU model is let go, with the reason."""
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cuda", "cpu"])
    pipeline = MaskPipeline(MatteSettings({"gpu_model": RVM, "device": "cuda"}), search_dirs=search)
    assert not isinstance(pipeline.model, RvmMatter)
    assert pipeline.gpu_note.startswith(f"{RVM} not used: cuda: not offered by this onnxruntime build")


def test_a_gpu_model_that_is_not_installed_lets_it_go(monkeypatch):
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cuda", "cpu"])
    pipeline = MaskPipeline(MatteSettings({"gpu_model": RVM}), search_dirs=[paths.MODELS_DIR])
    assert pipeline.active_model == "mediapipe_selfie_landscape"
    assert pipeline.gpu_note.startswith(f"{RVM} not used: ") and "not found" in pipeline.gpu_note.lower()


def test_an_unknown_gpu_model_id_lets_it_go(monkeypatch):
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cuda", "cpu"])
    pipeline = MaskPipeline(MatteSettings({"gpu_model": "no_such_model"}), search_dirs=[paths.MODELS_DIR])
    assert pipeline.active_model == "mediapipe_selfie_landscape"
    assert pipeline.gpu_note.startswith("no_such_model not used: ")


def test_on_a_gpu_it_runs_alone_without_the_frame_by_frame_views(search, monkeypatch):
    """The real RVM session, reported as running on CUDA: the pipeline takes it instead of the preset's two
    models, leaves out the mirror pass (RVM's memory), and produces masks."""
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cuda", "cpu"])
    real_create = pipeline_module.create_matter

    def on_gpu(model, device, threads, search_dirs, **options):
        matter = real_create(model, "cpu", threads, search_dirs, **options)
        if model == RVM:
            matter.info.device, matter.info.provider = "cuda", "CUDAExecutionProvider"
        return matter
    monkeypatch.setattr(pipeline_module, "create_matter", on_gpu)
    settings = get_preset("low_light").apply()
    pipeline = MaskPipeline(settings, search_dirs=search)
    assert isinstance(pipeline.model, RvmMatter) and pipeline.matter is pipeline.model
    assert pipeline.model.max_side == settings.inference_size
    assert pipeline.active_model == RVM and pipeline.gpu_note == f"{RVM} on the GPU"
    frame = np.zeros((180, 320, 3), np.uint8)
    frame[40:, 120:200] = 200
    mask = pipeline.process(frame)
    assert mask.ndim == 2 and np.isfinite(mask).all()


def test_the_command_line_names_the_model_that_ran(search, tmp_path, capsys, monkeypatch):
    import cv2
    from obsmatte.cli import main
    monkeypatch.setenv("OBSMATTE_MODEL_PATH", str(search[1]))
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.full((90, 160, 3), 100, np.uint8))
    assert main(["image", str(src), str(tmp_path / "out.png"), "--preset", "low_light"]) == 0
    out = capsys.readouterr().out
    assert "model mediapipe_selfie_general + mediapipe_selfie_landscape (rvm_mobilenetv3 not used: no GPU" in out
