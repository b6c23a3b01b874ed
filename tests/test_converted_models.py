"""The shipped MediaPipe ONNX files and the converter that made them (tools/convert_mediapipe.py).

The reference ONNX files in ../shared/models were made independently (tf2onnx + TensorFlow) and agree
with MediaPipe's own runtime to 1.3e-4, so agreeing with them on real portraits checks the converter's
translation of every operator, not just that it runs.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import subprocess
import sys
import zipfile

import cv2
import flatbuffers
import numpy as np
import onnx
import pytest
import tflite

from obsmatte import paths
from obsmatte.models import create_matter, get_spec

from conftest import need_shared

TOOL = paths.ROOT / "tools" / "convert_mediapipe.py"
# model id -> (shipped file, reference ONNX and source tflite stem in ../shared/models, wheel --model)
MODELS = {
    "mediapipe_selfie_landscape": ("mediapipe_selfie_landscape_144x256.onnx",
                                   "mp_selfie_segmentation_landscape_144x256", "landscape"),
    "mediapipe_selfie_general": ("mediapipe_selfie_general_256.onnx", "mp_selfie_segmentation_general_256",
                                 "general"),
}
MAX_PROBABILITY_DIFFERENCE = 1e-3


def _load_tool():
    spec = importlib.util.spec_from_file_location("convert_mediapipe", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


convert_mediapipe = _load_tool()


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _manifest_entry(model_id: str) -> dict:
    data = json.loads(paths.MANIFEST_PATH.read_text(encoding="utf-8"))
    return next(m for m in data["models"] if m["id"] == model_id)


# ------------------------------------------------------------------------- (1) same output as the reference
@pytest.mark.parametrize("model_id", list(MODELS))
def test_shipped_model_matches_reference_on_real_images(model_id, portraits, shared_models_dir):
    shipped, reference, _ = MODELS[model_id]
    still = need_shared("eval", "stills", "portrait.jpg")
    images = [(name, rgb) for name, rgb, _ in portraits]
    images.append(("stills/portrait", cv2.cvtColor(cv2.imread(str(still)), cv2.COLOR_BGR2RGB)))
    ours = create_matter(model_id, device="cpu", threads=2, model_path=paths.MODELS_DIR / shipped)
    theirs = create_matter(model_id, device="cpu", threads=2, model_path=shared_models_dir / f"{reference}.onnx")
    worst, worst_name = 0.0, ""
    for name, rgb in images:
        a, b = ours.predict(rgb), theirs.predict(rgb)
        assert a.shape == b.shape == ours.spec.input.size
        diff = float(np.abs(a - b).max())
        if diff >= worst:
            worst, worst_name = diff, name
        # the images really are segmented (a constant map would also "match" a constant map)
        assert 0.02 < float((a > 0.5).mean()) < 0.98, f"{name}: no person/background split"
    print(f"{model_id}: max |probability difference| vs reference {worst:.2e} ({worst_name}; "
          f"{len(images)} images)")
    assert worst <= MAX_PROBABILITY_DIFFERENCE


# ------------------------------------------------------------------------- (2) reproducible from the tflite
@pytest.mark.parametrize("model_id", list(MODELS))
def test_converter_reproduces_the_shipped_file(model_id, tmp_path):
    shipped, stem, _ = MODELS[model_id]
    source = need_shared("models", "tflite", f"{stem}.tflite")
    out = tmp_path / shipped
    result = _run_tool(source, out)
    assert result.returncode == 0, result.stderr
    assert _sha256(out) == _sha256(paths.MODELS_DIR / shipped), "conversion is not byte-identical"
    # what the ONNX says about itself: the tflite interface kept, the source recorded
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    spec = get_spec(model_id)
    assert [i.name for i in model.graph.input] == [spec.input.name]
    assert [o.name for o in model.graph.output] == [spec.output.name]
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, *spec.input.size, 1]
    assert {p.key: p.value for p in model.metadata_props}["source_sha256"] == _sha256(source)


@pytest.mark.parametrize("model_id", list(MODELS))
def test_converter_reads_the_model_out_of_a_wheel(model_id, tmp_path):
    """Same bytes whether the tflite comes loose or from inside a wheel (a zip holding the real file
    at the wheel's path)."""
    shipped, stem, choice = MODELS[model_id]
    source = need_shared("models", "tflite", f"{stem}.tflite")
    wheel = tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for other, member in convert_mediapipe.WHEEL_MODELS.items():
            other_stem = next(m[1] for m in MODELS.values() if m[2] == other)
            z.write(source.parent / f"{other_stem}.tflite", member)
    out = tmp_path / "from_wheel.onnx"
    result = _run_tool(wheel, out, "--model", choice)
    assert result.returncode == 0, result.stderr
    assert _sha256(out) == _sha256(paths.MODELS_DIR / shipped)


# ------------------------------------------------------------------------- (3) pinned in the manifest
@pytest.mark.parametrize("model_id", list(MODELS))
def test_shipped_file_matches_manifest_checksum(model_id):
    shipped = MODELS[model_id][0]
    entry = _manifest_entry(model_id)
    assert entry["file"] == shipped
    assert entry["shipped"] is True
    assert (paths.MODELS_DIR / entry["license_file"]).is_file()
    assert _sha256(paths.MODELS_DIR / shipped) == entry["sha256"]
    assert entry["sha256"] in (paths.MODELS_DIR / "PROVENANCE.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("model_id", list(MODELS))
def test_shipped_file_is_found_first_without_search_dirs(model_id, monkeypatch):
    monkeypatch.delenv("OBSMATTE_MODEL_PATH", raising=False)
    assert get_spec(model_id).find_file() == paths.MODELS_DIR / MODELS[model_id][0]


# ------------------------------------------------------------------------- (4) bad input: one clear line
def _schema(table: str):
    # `tflite.Model` etc. are the reader classes; the builder functions live in the modules of that name.
    return importlib.import_module(f"tflite.{table}")


def _tiny_tflite(builtin_code: int) -> bytes:
    """A minimal valid .tflite with one operator (1x4x4x3 -> 1x4x4x3)."""
    b = flatbuffers.Builder(1024)
    Buffer, Tensor, Operator, OperatorCode, SubGraph, Model = (
        _schema(t) for t in ("Buffer", "Tensor", "Operator", "OperatorCode", "SubGraph", "Model"))

    def vector(start, items):
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    def int_vector(values):
        return b.CreateNumpyVector(np.asarray(values, np.int32))

    Buffer.BufferStart(b)
    empty = Buffer.BufferEnd(b)
    tensors = []
    for name in ("x", "y"):
        n, shape = b.CreateString(name), int_vector([1, 4, 4, 3])
        Tensor.TensorStart(b)
        Tensor.TensorAddShape(b, shape)
        Tensor.TensorAddType(b, tflite.TensorType.FLOAT32)
        Tensor.TensorAddBuffer(b, 0)
        Tensor.TensorAddName(b, n)
        tensors.append(Tensor.TensorEnd(b))
    op_in, op_out = int_vector([0]), int_vector([1])
    Operator.OperatorStart(b)
    Operator.OperatorAddOpcodeIndex(b, 0)
    Operator.OperatorAddInputs(b, op_in)
    Operator.OperatorAddOutputs(b, op_out)
    operator = Operator.OperatorEnd(b)
    OperatorCode.OperatorCodeStart(b)
    OperatorCode.OperatorCodeAddBuiltinCode(b, builtin_code)
    OperatorCode.OperatorCodeAddDeprecatedBuiltinCode(b, min(builtin_code, 127))
    OperatorCode.OperatorCodeAddVersion(b, 1)
    code = OperatorCode.OperatorCodeEnd(b)
    tensor_vec = vector(SubGraph.SubGraphStartTensorsVector, tensors)
    op_vec = vector(SubGraph.SubGraphStartOperatorsVector, [operator])
    g_in, g_out = int_vector([0]), int_vector([1])
    SubGraph.SubGraphStart(b)
    SubGraph.SubGraphAddTensors(b, tensor_vec)
    SubGraph.SubGraphAddInputs(b, g_in)
    SubGraph.SubGraphAddOutputs(b, g_out)
    SubGraph.SubGraphAddOperators(b, op_vec)
    subgraph = SubGraph.SubGraphEnd(b)
    codes = vector(Model.ModelStartOperatorCodesVector, [code])
    subgraphs = vector(Model.ModelStartSubgraphsVector, [subgraph])
    buffers = vector(Model.ModelStartBuffersVector, [empty])
    Model.ModelStart(b)
    Model.ModelAddVersion(b, 3)
    Model.ModelAddOperatorCodes(b, codes)
    Model.ModelAddSubgraphs(b, subgraphs)
    Model.ModelAddBuffers(b, buffers)
    b.Finish(Model.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_tiny_model_builder_makes_a_model_the_converter_accepts(tmp_path):
    """The helper above builds real tflite files: with a supported operator it converts and runs."""
    import onnxruntime as ort

    onnx_bytes = convert_mediapipe.convert_bytes(_tiny_tflite(tflite.BuiltinOperator.LOGISTIC))
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    x = np.linspace(-3, 3, 48, dtype=np.float32).reshape(1, 4, 4, 3)
    (y,) = session.run(None, {"x": x})
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), atol=1e-6)


def test_unsupported_operator_is_named(tmp_path):
    with pytest.raises(convert_mediapipe.ConversionError, match=r"unsupported operator SOFTMAX"):
        convert_mediapipe.convert_bytes(_tiny_tflite(tflite.BuiltinOperator.SOFTMAX))
    src = tmp_path / "softmax.tflite"
    src.write_bytes(_tiny_tflite(tflite.BuiltinOperator.SOFTMAX))
    result = _run_tool(src, tmp_path / "out.onnx")
    assert result.returncode == 1
    assert "SOFTMAX" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("content, expected", [
    (b"this is not a model at all", "not a TensorFlow Lite model"),
    (b"", "not a TensorFlow Lite model"),
    ("truncated", "corrupt TensorFlow Lite model"),
])
def test_garbage_input_gives_one_line_error(content, expected, tmp_path):
    if content == "truncated":  # the real file cut in half: a valid header, dangling offsets
        real = need_shared("models", "tflite", "mp_selfie_segmentation_general_256.tflite").read_bytes()
        content = real[: len(real) // 2]
    src = tmp_path / "bad.tflite"
    src.write_bytes(content)
    with pytest.raises(convert_mediapipe.ConversionError, match=expected):
        convert_mediapipe.convert_file(src, tmp_path / "out.onnx")
    result = _run_tool(src, tmp_path / "out.onnx")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not (tmp_path / "out.onnx").exists()


def test_wheel_and_path_mistakes_are_explained(tmp_path):
    wheel = tmp_path / "mediapipe.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mediapipe/__init__.py", "")
    with pytest.raises(convert_mediapipe.ConversionError, match="--model"):
        convert_mediapipe.convert_file(wheel, tmp_path / "out.onnx")
    with pytest.raises(convert_mediapipe.ConversionError, match="has no mediapipe/modules/selfie_segmentation"):
        convert_mediapipe.convert_file(wheel, tmp_path / "out.onnx", model="general")
    with pytest.raises(convert_mediapipe.ConversionError, match="input file not found"):
        convert_mediapipe.convert_file(tmp_path / "missing.tflite", tmp_path / "out.onnx")
