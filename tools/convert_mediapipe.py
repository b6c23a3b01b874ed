#!/usr/bin/env python3
"""Convert MediaPipe's selfie-segmentation TensorFlow Lite models to ONNX, without TensorFlow.

    python tools/convert_mediapipe.py IN.tflite OUT.onnx
    python tools/convert_mediapipe.py mediapipe-0.10.21-....whl OUT.onnx --model landscape|general

The flatbuffer is read with the `tflite` package and the graph is written with `onnx.helper`. Only the
operators these two models use are translated (see HANDLERS); anything else stops with a ConversionError
that names the operator, so a new MediaPipe release cannot be half-converted silently.

The ONNX model keeps the tflite interface (NHWC input and output with the tflite tensor names, so the
manifest's `input_1` / `segment_back` / `activation_10` stay valid). Inside, activations are NCHW: one
Transpose after the input and one before each output, because onnxruntime's CPU kernels are NCHW.

The output is deterministic: no timestamps, no tool versions, no file names, only the source's sha256, so
the same tflite bytes (from a loose file or from inside the wheel) always give the same ONNX bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

try:  # inside the project, conversion failures are ModelErrors like every other model problem
    from obsmatte.errors import ModelError as _ErrorBase
except ImportError:  # the tool also runs on its own (only numpy, onnx and tflite are needed)
    _ErrorBase = Exception

OPSET = 17  # HardSwish needs >= 14; 17 keeps ReduceMean's axes an attribute
IR_VERSION = 8  # pinned (not the installed onnx's default) so the bytes do not depend on the onnx version
CONVERTER_VERSION = "1"
WHEEL_MODELS = {  # --model choice -> member of the mediapipe wheel (0.10.14 .. 0.10.21)
    "landscape": "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
    "general": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
}


class ConversionError(_ErrorBase):
    """The input is not a model this converter can translate; str() is one line saying why."""


# ------------------------------------------------------------------------------------ tflite reading
_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
# TensorType -> numpy dtype for the constants these models hold
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}
_ACTIVATIONS = {0: None, 1: "Relu", 2: "Clip(-1,1)", 3: "Clip(0,6)", 4: "Tanh"}
_SAME = tflite.Padding.SAME  # VALID is the only other choice: no padding
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8


@dataclass(frozen=True)
class Operator:
    index: int
    name: str  # builtin operator name (CONV_2D) or the custom code (Convolution2DTransposeBias)
    inputs: tuple[int, ...]  # tensor indices; -1 = optional input left out
    outputs: tuple[int, ...]
    raw: object  # tflite.Operator, for the options tables


class TfliteGraph:
    """The single subgraph of a .tflite flatbuffer: tensor shapes, constant data, operators."""

    def __init__(self, data: bytes):
        if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
            raise ConversionError("not a TensorFlow Lite model (the file has no 'TFL3' flatbuffer identifier)")
        self.data = data
        try:
            self.model = tflite.Model.GetRootAsModel(data, 0)
            if self.model.SubgraphsLength() != 1:
                raise ConversionError(f"expected one subgraph, found {self.model.SubgraphsLength()}")
            self.graph = self.model.Subgraphs(0)
            self.inputs = [int(i) for i in self.graph.InputsAsNumpy()]
            self.outputs = [int(i) for i in self.graph.OutputsAsNumpy()]
            self.operators = [self._operator(j) for j in range(self.graph.OperatorsLength())]
        except ConversionError:
            raise
        except Exception as e:  # a truncated/corrupt flatbuffer fails somewhere inside the accessors
            raise ConversionError(f"corrupt TensorFlow Lite model ({type(e).__name__}: {e})") from None

    def _operator(self, j: int) -> Operator:
        op = self.graph.Operators(j)
        code = self.model.OperatorCodes(op.OpcodeIndex())
        # Since schema v3a the real code lives in builtin_code; old files only fill the deprecated byte.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _OP_NAMES.get(builtin, f"builtin operator #{builtin}")
        if name == "CUSTOM":
            name = (code.CustomCode() or b"?").decode("utf-8", "replace")
        return Operator(j, name, tuple(int(i) for i in op.InputsAsNumpy()),
                        tuple(int(i) for i in op.OutputsAsNumpy()), op)

    def name(self, t: int) -> str:
        return self.graph.Tensors(t).Name().decode("utf-8", "replace")

    def shape(self, t: int) -> tuple[int, ...]:
        tensor = self.graph.Tensors(t)
        return tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()

    def constant(self, t: int) -> np.ndarray | None:
        """The tensor's data if it is a constant stored in the file, else None (an activation)."""
        tensor = self.graph.Tensors(t)
        buf = self.model.Buffers(tensor.Buffer())
        if buf.DataLength():
            raw = buf.DataAsNumpy().tobytes()
        elif buf.Offset() > 1:  # large models keep buffers after the flatbuffer (offset/size)
            raw = self.data[buf.Offset(): buf.Offset() + buf.Size()]
        else:
            return None
        q = tensor.Quantization()
        if q is not None and q.ScaleLength():
            raise ConversionError(f"tensor '{self.name(t)}' is integer-quantized; only float models are "
                                  "supported")
        if tensor.Type() not in _DTYPES:
            raise ConversionError(f"tensor '{self.name(t)}' has unsupported type #{tensor.Type()}")
        dtype = np.dtype(_DTYPES[tensor.Type()]).newbyteorder("<")  # flatbuffers are little-endian
        return np.frombuffer(raw, dtype=dtype).reshape(self.shape(t))

    def options(self, op: Operator, table):
        """The operator's builtin options decoded as `table` (e.g. tflite.Conv2DOptions)."""
        raw = op.raw.BuiltinOptions()
        if raw is None:
            raise ConversionError(f"operator {op.index} ({op.name}) has no options")
        opts = table()
        opts.Init(raw.Bytes, raw.Pos)
        return opts


# ------------------------------------------------------------------------------------ ONNX assembly
def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after): the odd pixel goes at the end, unlike a symmetric pad."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def nhwc_to_nchw_axis(axis: int) -> int:
    return (0, 2, 3, 1)[axis % 4]


class Converter:
    """Walks the tflite operators in order and emits the equivalent ONNX nodes (NCHW inside)."""

    def __init__(self, graph: TfliteGraph):
        self.g = graph
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.constants: dict[int, np.ndarray] = {}  # tflite tensors folded at conversion time
        self.names: dict[int, str] = {}  # tflite tensor -> ONNX value name (activations only)
        self.used: set[str] = set()

    # -- naming --
    def value(self, t: int) -> str:
        if t not in self.names:
            self.names[t] = self._unique(self.g.name(t) or f"t{t}")
        return self.names[t]

    def _unique(self, base: str) -> str:
        name, n = base, 1
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        return name

    def init(self, base: str, array: np.ndarray) -> str:
        name = self._unique(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], label: str, **attrs) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self._unique(label), **attrs))

    # -- operands --
    def const(self, op: Operator, k: int, what: str) -> np.ndarray:
        t = op.inputs[k]
        if t < 0:
            raise ConversionError(f"operator {op.index} ({op.name}) is missing its {what}")
        if t in self.constants:
            return self.constants[t]
        data = self.g.constant(t)
        if data is None:
            raise ConversionError(f"operator {op.index} ({op.name}): its {what} must be a constant")
        return data

    def activation(self, op: Operator, k: int) -> str:
        t = op.inputs[k]
        if t in self.constants or self.g.constant(t) is not None:
            raise ConversionError(f"operator {op.index} ({op.name}): input {k} must not be a constant")
        if t not in self.names:
            raise ConversionError(f"operator {op.index} ({op.name}) reads tensor '{self.g.name(t)}' before "
                                  "it is computed")
        return self.names[t]

    def image_shape(self, t: int) -> tuple[int, int, int, int]:
        shape = self.g.shape(t)
        if len(shape) != 4:
            raise ConversionError(f"tensor '{self.g.name(t)}' has shape {list(shape)}; only 4-D image "
                                  "tensors are supported")
        return shape  # type: ignore[return-value]

    def output_with_activation(self, op: Operator, fused: int) -> str:
        """Where the op should write: its output directly, or a temporary that the fused activation reads."""
        out = self.value(op.outputs[0])
        if fused not in _ACTIVATIONS:
            raise ConversionError(f"operator {op.index} ({op.name}) has unsupported fused activation #{fused}")
        kind = _ACTIVATIONS[fused]
        if kind is None:
            return out
        tmp = self._unique(f"{out}_preact")
        label = f"{op.index:03d}_{op.name}_act"
        if kind == "Relu":
            self.node("Relu", [tmp], [out], label)
        elif kind == "Tanh":
            self.node("Tanh", [tmp], [out], label)
        else:
            lo, hi = (-1.0, 1.0) if kind == "Clip(-1,1)" else (0.0, 6.0)
            low, high = self.init(f"{out}_min", np.float32(lo)), self.init(f"{out}_max", np.float32(hi))
            self.node("Clip", [tmp, low, high], [out], label)
        return tmp

    # -- the graph --
    def convert(self, source_sha256: str) -> onnx.ModelProto:
        g = self.g
        graph_inputs, graph_outputs = [], []
        for t in g.inputs:
            shape = self.image_shape(t)
            name = self._unique(g.name(t))
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
            self.names[t] = self._unique(f"{name}_nchw")
            self.node("Transpose", [name], [self.names[t]], "input_to_nchw", perm=[0, 3, 1, 2])
        # The graph outputs keep their tflite names; the NCHW values computed inside get a suffix.
        out_names = {t: self._unique(g.name(t)) for t in g.outputs}
        for t in g.outputs:
            self.names[t] = self._unique(f"{out_names[t]}_nchw")
        for op in g.operators:
            handler = HANDLERS.get(op.name)
            if handler is None:
                raise ConversionError(f"unsupported operator {op.name} (operator {op.index}); this converter "
                                      f"handles {', '.join(sorted(HANDLERS))}")
            handler(self, op)
        for t in g.outputs:
            if t in self.constants:
                raise ConversionError(f"output '{g.name(t)}' is a constant")
            shape = self.image_shape(t)
            self.node("Transpose", [self.names[t]], [out_names[t]], f"{out_names[t]}_to_nhwc",
                      perm=[0, 2, 3, 1])
            graph_outputs.append(helper.make_tensor_value_info(out_names[t], TensorProto.FLOAT, list(shape)))
        graph = helper.make_graph(self.nodes, "mediapipe_selfie_segmentation", graph_inputs, graph_outputs,
                                  self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="obs-matting tools/convert_mediapipe.py",
                                  producer_version=CONVERTER_VERSION, ir_version=IR_VERSION,
                                  doc_string="MediaPipe selfie segmentation (Apache-2.0), converted from "
                                             "TensorFlow Lite")
        helper.set_model_props(model, {"source_sha256": source_sha256, "license": "Apache-2.0"})
        return model


# ------------------------------------------------------------------------------------ operators
def _dequantize(c: Converter, op: Operator) -> None:
    # fp16 weights are widened once here (exactly: every fp16 value is a float32 value), not per frame.
    data = c.g.constant(op.inputs[0])
    if data is None:
        raise ConversionError(f"operator {op.index} (DEQUANTIZE) of a computed tensor is not supported")
    if data.dtype != np.float16:
        raise ConversionError(f"operator {op.index} (DEQUANTIZE) of {data.dtype} weights is not supported")
    c.constants[op.outputs[0]] = data.astype(np.float32)


def _conv(c: Converter, op: Operator, depthwise: bool) -> None:
    opts = c.g.options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
    x = c.activation(op, 0)
    _, h, w, cin = c.image_shape(op.inputs[0])
    weight = c.const(op, 1, "weights")
    if weight.ndim != 4:
        raise ConversionError(f"operator {op.index} ({op.name}) has {weight.ndim}-D weights")
    kh, kw = weight.shape[1:3]
    if depthwise:  # tflite [1, kh, kw, cin*multiplier] -> ONNX grouped conv [cin*multiplier, 1, kh, kw]
        group = cin
        onnx_weight = weight.transpose(3, 0, 1, 2)
        if weight.shape[3] % cin:
            raise ConversionError(f"operator {op.index} ({op.name}): {weight.shape[3]} outputs for {cin} "
                                  "inputs")
    else:  # tflite OHWI -> ONNX OIHW
        group = 1
        onnx_weight = weight.transpose(0, 3, 1, 2)
    sh, sw = opts.StrideH(), opts.StrideW()
    dh, dw = opts.DilationHFactor(), opts.DilationWFactor()
    if opts.Padding() == _SAME:
        (top, bottom), (left, right) = same_pads(h, kh, sh, dh), same_pads(w, kw, sw, dw)
    else:
        top = bottom = left = right = 0
    label = f"{op.index:03d}_{op.name}"
    inputs = [x, c.init(f"{label}_weight", onnx_weight.astype(np.float32))]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        inputs.append(c.init(f"{label}_bias", c.const(op, 2, "bias").astype(np.float32)))
    out = c.output_with_activation(op, opts.FusedActivationFunction())
    c.node("Conv", inputs, [out], label, kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw],
           pads=[top, left, bottom, right], group=group)


def _conv2d(c: Converter, op: Operator) -> None:
    _conv(c, op, depthwise=False)


def _depthwise_conv2d(c: Converter, op: Operator) -> None:
    _conv(c, op, depthwise=True)


def _transpose_conv_bias(c: Converter, op: Operator) -> None:
    """MediaPipe's Convolution2DTransposeBias: a transposed convolution plus bias in one custom op.

    Its custom options are the raw C struct TfLiteTransposeConvParams {padding, stride_width,
    stride_height} (three little-endian int32; padding 1 = SAME, 2 = VALID). Padding is derived from the
    recorded output size, which covers both: crop `total` pixels, the odd one at the end as TF does.
    """
    raw = op.raw.CustomOptionsAsNumpy().tobytes() if op.raw.CustomOptionsLength() else b""
    if len(raw) != 12:
        raise ConversionError(f"operator {op.index} ({op.name}) has {len(raw)} bytes of options, expected 12")
    padding, sw, sh = struct.unpack("<3i", raw)
    if padding not in (1, 2) or sw < 1 or sh < 1:
        raise ConversionError(f"operator {op.index} ({op.name}) has invalid options {padding, sw, sh}")
    x = c.activation(op, 0)
    _, h, w, _ = c.image_shape(op.inputs[0])
    _, oh, ow, _ = c.image_shape(op.outputs[0])
    weight = c.const(op, 1, "weights")  # tflite OHWI -> ONNX ConvTranspose IOHW
    kh, kw = weight.shape[1:3]
    pads, output_padding = [0, 0, 0, 0], [0, 0]
    for axis, (size, k, s, out) in enumerate(((h, kh, sh, oh), (w, kw, sw, ow))):
        total = (size - 1) * s + k - out
        if total >= 0:
            pads[axis], pads[axis + 2] = total // 2, total - total // 2
        elif -total < s:
            output_padding[axis] = -total
        else:
            raise ConversionError(f"operator {op.index} ({op.name}): output size {out} impossible for "
                                  f"input {size}")
    label = f"{op.index:03d}_TransposeConvBias"
    inputs = [x, c.init(f"{label}_weight", weight.transpose(3, 0, 1, 2).astype(np.float32))]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        inputs.append(c.init(f"{label}_bias", c.const(op, 2, "bias").astype(np.float32)))
    attrs = {"output_padding": output_padding} if any(output_padding) else {}
    c.node("ConvTranspose", inputs, [c.value(op.outputs[0])], label, kernel_shape=[kh, kw], strides=[sh, sw],
           pads=pads, **attrs)


def _average_pool(c: Converter, op: Operator) -> None:
    opts = c.g.options(op, tflite.Pool2DOptions)
    x = c.activation(op, 0)
    _, h, w, _ = c.image_shape(op.inputs[0])
    kh, kw, sh, sw = opts.FilterHeight(), opts.FilterWidth(), opts.StrideH(), opts.StrideW()
    label = f"{op.index:03d}_{op.name}"
    out = c.output_with_activation(op, opts.FusedActivationFunction())
    if (kh, kw) == (h, w) and c.image_shape(op.outputs[0])[1:3] == (1, 1):
        c.node("GlobalAveragePool", [x], [out], label)  # the squeeze-excite blocks: one mean per channel
        return
    if opts.Padding() == _SAME:
        (top, bottom), (left, right) = same_pads(h, kh, sh), same_pads(w, kw, sw)
    else:
        top = bottom = left = right = 0
    # TF averages only the real pixels under the window, i.e. padding is not counted.
    c.node("AveragePool", [x], [out], label, kernel_shape=[kh, kw], strides=[sh, sw],
           pads=[top, left, bottom, right], count_include_pad=0)


def _mean(c: Converter, op: Operator) -> None:
    opts = c.g.options(op, tflite.ReducerOptions)
    x = c.activation(op, 0)
    c.image_shape(op.inputs[0])
    if not opts.KeepDims():
        raise ConversionError(f"operator {op.index} (MEAN) without keep_dims changes the rank; not supported")
    axes = sorted(nhwc_to_nchw_axis(int(a)) for a in c.const(op, 1, "axes").reshape(-1))
    label = f"{op.index:03d}_MEAN"
    if axes == [2, 3]:
        c.node("GlobalAveragePool", [x], [c.value(op.outputs[0])], label)
    else:
        c.node("ReduceMean", [x], [c.value(op.outputs[0])], label, axes=axes, keepdims=1)


def _binary(onnx_op: str, options_table):
    def handler(c: Converter, op: Operator) -> None:
        opts = c.g.options(op, options_table)
        operands = []
        for k in (0, 1):
            t = op.inputs[k]
            data = c.constants.get(t)
            if data is None:
                data = c.g.constant(t)
            label = f"{op.index:03d}_{op.name}_{k}"
            if data is None:
                c.image_shape(t)
                operands.append(c.activation(op, k))
            elif data.ndim == 4:
                operands.append(c.init(label, data.astype(np.float32).transpose(0, 3, 1, 2)))
            elif data.size == 1:
                operands.append(c.init(label, data.astype(np.float32).reshape(())))
            elif data.ndim == 1:  # one value per channel: NHWC broadcasts over the last axis, NCHW over axis 1
                operands.append(c.init(label, data.astype(np.float32).reshape(1, -1, 1, 1)))
            else:
                raise ConversionError(f"operator {op.index} ({op.name}): constant of shape {list(data.shape)}")
        out = c.output_with_activation(op, opts.FusedActivationFunction())
        c.node(onnx_op, operands, [out], f"{op.index:03d}_{op.name}")
    return handler


def _unary(onnx_op: str):
    def handler(c: Converter, op: Operator) -> None:
        c.image_shape(op.inputs[0])
        c.node(onnx_op, [c.activation(op, 0)], [c.value(op.outputs[0])], f"{op.index:03d}_{op.name}")
    return handler


def _resize_bilinear(c: Converter, op: Operator) -> None:
    opts = c.g.options(op, tflite.ResizeBilinearOptions)
    x = c.activation(op, 0)
    n, _, _, ch = c.image_shape(op.inputs[0])
    oh, ow = (int(v) for v in c.const(op, 1, "size").reshape(-1))
    if opts.AlignCorners():
        mode = "align_corners"
    elif opts.HalfPixelCenters():
        mode = "half_pixel"  # TF's half_pixel_centers: same sampling grid, clamped at the border
    else:
        mode = "asymmetric"
    label = f"{op.index:03d}_RESIZE_BILINEAR"
    sizes = c.init(f"{label}_sizes", np.array([n, ch, oh, ow], np.int64))
    c.node("Resize", [x, "", "", sizes], [c.value(op.outputs[0])], label, mode="linear",
           coordinate_transformation_mode=mode)


HANDLERS = {
    "DEQUANTIZE": _dequantize,
    "CONV_2D": _conv2d,
    "DEPTHWISE_CONV_2D": _depthwise_conv2d,
    "Convolution2DTransposeBias": _transpose_conv_bias,
    "AVERAGE_POOL_2D": _average_pool,
    "MEAN": _mean,
    "ADD": _binary("Add", tflite.AddOptions),
    "MUL": _binary("Mul", tflite.MulOptions),
    "RELU": _unary("Relu"),
    "HARD_SWISH": _unary("HardSwish"),
    "LOGISTIC": _unary("Sigmoid"),
    "RESIZE_BILINEAR": _resize_bilinear,
}


# ------------------------------------------------------------------------------------ entry points
def convert_bytes(data: bytes) -> bytes:
    """tflite flatbuffer bytes -> serialized, checked ONNX model bytes (deterministic)."""
    graph = TfliteGraph(data)
    try:
        model = Converter(graph).convert(hashlib.sha256(data).hexdigest())
    except ConversionError:
        raise
    except Exception as e:  # a damaged file with inconsistent shapes/buffers fails inside numpy or flatbuffers
        raise ConversionError(f"corrupt TensorFlow Lite model ({type(e).__name__}: {e})") from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # a translation bug, never the user's fault, but still one line
        raise ConversionError(f"the converted model fails onnx.checker: {str(e).splitlines()[0]}") from None
    return model.SerializeToString()


def read_source(path: str | Path, model: str | None = None) -> bytes:
    """The tflite bytes of `path`: a .tflite file, or a mediapipe wheel plus which model (see WHEEL_MODELS)."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"input file not found: {path}")
    data = path.read_bytes()
    # Test the tflite identifier first: MediaPipe models carry their metadata files as an appended zip,
    # so zipfile.is_zipfile() says yes to a plain .tflite too.
    if data[4:8] == TFLITE_IDENTIFIER or not zipfile.is_zipfile(path):
        if model is not None:
            raise ConversionError(f"--model only applies to a mediapipe wheel; {path.name} is not a wheel")
        return data
    if model not in WHEEL_MODELS:
        raise ConversionError(f"{path.name} is a wheel: say which model to convert with --model "
                              f"({' or '.join(WHEEL_MODELS)})")
    member = WHEEL_MODELS[model]
    try:
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(member)
    except KeyError:
        raise ConversionError(f"{path.name} has no {member} (mediapipe 0.10.14 to 0.10.21 ship it)") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise ConversionError(f"cannot read {path.name}: {e}") from None


def convert_file(src: str | Path, dst: str | Path, model: str | None = None) -> str:
    """Convert `src` into `dst` (replaced atomically); returns the sha256 of the written ONNX file."""
    onnx_bytes = convert_bytes(read_source(src, model))
    dst = Path(dst)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        # A half-written model must never sit under the real name; plain open() keeps the umask's mode.
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
        with open(tmp, "wb") as f:
            f.write(onnx_bytes)
        os.replace(tmp, dst)
    except OSError as e:
        raise ConversionError(f"cannot write {dst}: {e.strerror or e}") from None
    return hashlib.sha256(onnx_bytes).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert a MediaPipe selfie-segmentation .tflite (or the "
                                                 "model inside a mediapipe wheel) to ONNX.")
    parser.add_argument("source", help="a .tflite file, or a mediapipe-*.whl (then give --model)")
    parser.add_argument("output", help="the .onnx file to write")
    parser.add_argument("--model", choices=sorted(WHEEL_MODELS), help="which model to take out of a wheel")
    args = parser.parse_args(argv)
    try:
        digest = convert_file(args.source, args.output, args.model)
    except ConversionError as e:
        print(f"convert_mediapipe: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} (sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
