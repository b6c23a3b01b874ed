"""Models as data (models/models.json) plus one small adapter per family.

Every adapter turns an RGB uint8 frame of any size into a float32 person alpha/probability in [0, 1]
at the model's output size. Adding a model of a known family is a manifest entry, not code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import paths
from .errors import ModelError
from .runtime import SessionInfo, create_session

FAMILIES = ("nhwc_probability", "nhwc_logits2", "nchw_softmax", "rvm")


@dataclass(frozen=True)
class InputSpec:
    name: str
    layout: str  # NHWC | NCHW
    size: tuple[int, int] | None  # (h, w); None = any size
    channels: str  # RGB | BGR
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float  # model input = (pixel - mean) / std * scale


@dataclass(frozen=True)
class OutputSpec:
    name: str
    kind: str  # probability | logits | alpha
    layout: str
    person_channel: int


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    file: str
    family: str
    input: InputSpec
    output: OutputSpec
    license: str
    shipped: bool
    alt_files: tuple[str, ...] = ()
    license_file: str | None = None
    download: dict[str, Any] | None = None
    provenance: str = ""
    notes: str = ""

    def find_file(self, search_dirs: list[Path] | None = None) -> Path | None:
        """The first existing file for this model in the search folders, else None."""
        for d in search_dirs or paths.model_search_dirs():
            for name in (self.file, *self.alt_files):
                p = Path(d) / name
                if p.is_file():
                    return p
        return None


def _spec_from_json(entry: dict[str, Any], where: str) -> ModelSpec:
    try:
        i, o = entry["input"], entry["output"]
        size = None if i["size"] == "any" else (int(i["size"][0]), int(i["size"][1]))
        spec = ModelSpec(
            id=entry["id"], name=entry["name"], file=entry["file"], family=entry["family"],
            input=InputSpec(i["name"], i["layout"], size, i["channels"], tuple(i["mean"]), tuple(i["std"]),
                            float(i["scale"])),
            output=OutputSpec(o["name"], o["kind"], o["layout"], int(o["person_channel"])),
            license=entry["license"], shipped=bool(entry["shipped"]),
            alt_files=tuple(entry.get("alt_files", ())), license_file=entry.get("license_file"),
            download=entry.get("download"), provenance=entry.get("provenance", ""),
            notes=entry.get("notes", ""))
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise ModelError(f"{where}: model entry {entry.get('id', '?')!r} is malformed ({e!r})") from None
    if spec.family not in FAMILIES:
        raise ModelError(f"{where}: model {spec.id!r} has unknown family {spec.family!r}")
    return spec


def load_manifest(path: str | Path | None = None) -> dict[str, ModelSpec]:
    """All models in the manifest, by id, in file order."""
    path = Path(path or paths.MANIFEST_PATH)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"model manifest {path} is not valid JSON (line {e.lineno}: {e.msg})") from None
    return {m["id"]: _spec_from_json(m, str(path)) for m in data["models"]}


def default_model_id(path: str | Path | None = None) -> str:
    path = Path(path or paths.MANIFEST_PATH)
    return json.loads(path.read_text(encoding="utf-8"))["default"]


def get_spec(model_id: str) -> ModelSpec:
    specs = load_manifest()
    if model_id not in specs:
        raise ModelError(f"unknown model '{model_id}' (known: {', '.join(specs)})")
    return specs[model_id]


# --------------------------------------------------------------------------------------- resizing
def _can_halve(hw: tuple[int, int], target_hw: tuple[int, int]) -> bool:
    """True when both sides are at least twice the target's and even, so a 2x2 box average is exact."""
    (h, w), (th, tw) = hw, target_hw
    return h >= 2 * th and w >= 2 * tw and h % 2 == 0 and w % 2 == 0


def shrink_for_model(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize an image to (h, w) for a model input without aliasing, cheaply.

    A shrink by 2x or more needs averaging: bilinear skips pixels there and the aliasing costs the model
    dearly on cluttered backgrounds (`obs-matting eval`, cafe scene: IoU 0.942 with area averaging vs
    0.894 with bilinear), though plain backdrops hide it. OpenCV's INTER_AREA averages exactly, but only
    its 2x2 case is vectorised: any other factor is several times slower (measured on the 2-core machine:
    ~1 ms for 1280x720 -> 256x144 and 6-8 ms from 1920x1080, against ~0.25 ms for 1280x720 -> 640x360,
    about one read of the frame). So the image is halved by exact 2x2 box averages while it is at least
    twice the target on both sides. What is left is done bilinearly when it is a shrink below 2x on both
    sides (no source pixel is skipped then, only weighted unevenly; this is also the OBS worker's path,
    whose frame the GPU has already downscaled), else by INTER_AREA (odd sides, or an aspect change such
    as 16:9 -> a square model).
    """
    h, w = hw
    while _can_halve(rgb.shape[:2], hw):
        rgb = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if rgb.shape[:2] == (h, w):
        return rgb
    big_shrink = rgb.shape[0] >= 2 * h or rgb.shape[1] >= 2 * w
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if big_shrink else cv2.INTER_LINEAR)


# --------------------------------------------------------------------------------------- adapters
class Matter:
    """Base adapter: owns a session; `predict(rgb)` -> float32 alpha in [0, 1] at the output size."""

    def __init__(self, spec: ModelSpec, session, info: SessionInfo | None = None):
        self.spec = spec
        self.session = session
        self.info = info
        self._input = None  # preallocated model input buffer
        # The RGB frame as the model saw it (resized), kept for steps that want the picture at the mask's
        # size (the temporal smoother's motion gate) without reading the full frame a second time.
        self.last_model_rgb: np.ndarray | None = None

    # -- to override --
    def input_hw(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        assert self.spec.input.size is not None
        return self.spec.input.size

    def feeds(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        return self.feeds_for(self._normalise(rgb))

    def feeds_for(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """The session's inputs around an already normalised input tensor (RVM adds its states)."""
        return {self.spec.input.name: tensor}

    def postprocess(self, outputs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    # -- shared --
    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self._check_frame(rgb)
        return self._run(self.feeds(rgb))

    def prepare(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(input tensor, the frame as the model sees it): the part of predict() that needs no session,
        so a stream can prepare the next frame on another thread while the model runs this one. The
        tensor is a private copy (the adapter's buffer is reused by the next call)."""
        self._check_frame(rgb)
        return self._normalise(rgb).copy(), self.last_model_rgb

    def predict_prepared(self, tensor: np.ndarray) -> np.ndarray:
        """predict() for a tensor from prepare() (last_model_rgb is left alone: it may already belong to
        the next frame, being prepared on another thread)."""
        return self._run(self.feeds_for(tensor))

    @staticmethod
    def _check_frame(rgb: np.ndarray) -> None:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ModelError(f"expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        outputs = self.session.run(None, feeds)
        alpha = self.postprocess(outputs)
        if not np.isfinite(alpha).all():
            raise ModelError(f"model {self.spec.id} produced non-finite values")
        return alpha

    def reset(self) -> None:
        """Forget temporal state (scene cut, resolution change). Stateless families do nothing."""

    def _resized(self, rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        return shrink_for_model(rgb, hw)

    def _normalise(self, rgb: np.ndarray) -> np.ndarray:
        """Resize, reorder and normalise into the preallocated input tensor (no per-frame allocations
        beyond the resize). With zero mean and unit std (MediaPipe, RVM) it is a single multiply."""
        spec = self.spec.input
        img = self._resized(rgb, self.input_hw(rgb.shape[:2]))
        self.last_model_rgb = img
        if spec.channels == "BGR":
            img = img[:, :, ::-1]
        h, w = img.shape[:2]
        shape = (1, h, w, 3) if spec.layout == "NHWC" else (1, 3, h, w)
        if self._input is None or self._input.shape != shape:
            self._input = np.empty(shape, np.float32)
            mean = np.asarray(spec.mean, np.float32)
            factor = np.float32(spec.scale) / np.asarray(spec.std, np.float32)
            self._plain_scale = not mean.any() and bool(np.all(factor == factor[0]))
            self._mean = mean if spec.layout == "NHWC" else mean[:, None, None]
            self._factor = factor if spec.layout == "NHWC" else factor[:, None, None]
        dst = self._input[0]
        src = img if spec.layout == "NHWC" else img.transpose(2, 0, 1)
        if self._plain_scale:
            np.multiply(src, self._factor.flat[0], out=dst, casting="unsafe")
        else:
            np.subtract(src, self._mean, out=dst, casting="unsafe")
            np.multiply(dst, self._factor, out=dst)
        return self._input

    def warmup(self, session) -> None:
        """One run on a grey frame (used by runtime.create_session to prove the device works)."""
        saved, self.session = self.session, session
        try:
            h, w = self.spec.input.size or (144, 256)
            self.predict(np.full((h, w, 3), 128, np.uint8))
        finally:
            self.session = saved
            self.reset()


class NhwcProbabilityMatter(Matter):
    """MediaPipe selfie: NHWC RGB/255 in, person probability out."""

    def postprocess(self, outputs):
        out = outputs[0][0]
        return np.ascontiguousarray(out[..., self.spec.output.person_channel], dtype=np.float32)


class NhwcLogits2Matter(Matter):
    """Meet-style: NHWC in, two logits (background, person) out; softmax = sigmoid of the difference."""

    def postprocess(self, outputs):
        logits = outputs[0][0]
        p = self.spec.output.person_channel
        diff = logits[..., p] - logits[..., 1 - p]
        return (1.0 / (1.0 + np.exp(-np.clip(diff, -30, 30)))).astype(np.float32)


class NchwSoftmaxMatter(Matter):
    """SINet: NCHW BGR mean/std in, softmax over (background, person) out."""

    def postprocess(self, outputs):
        out = outputs[0][0]
        person = out[self.spec.output.person_channel].astype(np.float32)
        if self.spec.output.kind == "logits":
            other = out[1 - self.spec.output.person_channel]
            person = 1.0 / (1.0 + np.exp(-np.clip(person - other, -30, 30)))
        return np.ascontiguousarray(person, dtype=np.float32)


class RvmMatter(Matter):
    """Robust Video Matting: any input size, four recurrent states fed back frame to frame.

    The frame is scaled so its long side is at most `max_side`; `downsample_ratio` is chosen so the
    internal low-resolution pass sees about RVM_TARGET_SIDE px (the paper's guidance: 0.25 for HD,
    0.4-1 for 512 px). States reset when the input size changes or on reset().
    """

    RVM_TARGET_SIDE = 320
    STATE_NAMES = ("r1i", "r2i", "r3i", "r4i")

    def __init__(self, spec, session, info=None, max_side: int = 640):
        super().__init__(spec, session, info)
        self.max_side = max_side
        self.states: list[np.ndarray] | None = None
        self.state_hw: tuple[int, int] | None = None
        self.steps_since_reset = 0

    def input_hw(self, frame_hw):
        h, w = frame_hw
        s = min(1.0, self.max_side / max(h, w))
        # Multiples of 4 keep the encoder/decoder shapes aligned after the internal downsampling.
        return max(16, int(round(h * s / 4)) * 4), max(16, int(round(w * s / 4)) * 4)

    @classmethod
    def downsample_ratio(cls, hw: tuple[int, int]) -> float:
        return float(min(1.0, max(0.125, cls.RVM_TARGET_SIDE / max(hw))))

    def reset(self):
        self.states = None
        self.state_hw = None
        self.steps_since_reset = 0

    def feeds_for(self, src):
        hw = src.shape[2:]
        if self.state_hw != hw:
            self.reset()
            self.state_hw = hw
        if self.states is None:
            self.states = [np.zeros((1, 1, 1, 1), np.float32) for _ in range(4)]
        f = {self.spec.input.name: src,
             "downsample_ratio": np.array([self.downsample_ratio(hw)], np.float32)}
        f.update(zip(self.STATE_NAMES, self.states))
        return f

    def postprocess(self, outputs):
        names = [o.name for o in self.session.get_outputs()]
        by_name = dict(zip(names, outputs))
        self.states = [by_name[n] for n in ("r1o", "r2o", "r3o", "r4o")]
        self.steps_since_reset += 1
        return np.ascontiguousarray(np.clip(by_name[self.spec.output.name][0, 0], 0.0, 1.0), dtype=np.float32)


ADAPTERS = {
    "nhwc_probability": NhwcProbabilityMatter,
    "nhwc_logits2": NhwcLogits2Matter,
    "nchw_softmax": NchwSoftmaxMatter,
    "rvm": RvmMatter,
}


class AveragedMatter:
    """Two frame-by-frame models' person probabilities averaged, at the first model's output size.

    Two different networks make different mistakes: where one takes a dark background for a person, the
    other often does not, and the average falls below the threshold (`obs-matting eval`, low-light scene:
    MAE -21% against the peer baseline on either model alone, see README "Quality"). Costs the second
    model's inference. The first model's picture (last_model_rgb) feeds the temporal smoother's gate.
    """

    def __init__(self, first, second):
        for m in (first, second):
            if getattr(m.spec, "family", None) == "rvm":
                raise ModelError(f"'{m.spec.id}' is a video-matting model with its own memory; a second "
                                 "opinion takes two frame-by-frame models")
        self.first, self.second = first, second
        self.spec = first.spec
        self.info = getattr(first, "info", None)
        if hasattr(first, "prepare") and hasattr(second, "prepare"):  # a stream can overlap them
            self.prepare, self.predict_prepared = self._prepare, self._predict_prepared

    @property
    def last_model_rgb(self):
        return self.first.last_model_rgb

    @staticmethod
    def _average(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        if q.shape != p.shape:
            q = cv2.resize(q, (p.shape[1], p.shape[0]), interpolation=cv2.INTER_LINEAR)
        return cv2.addWeighted(p, 0.5, q.astype(p.dtype, copy=False), 0.5, 0.0)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return self._average(self.first.predict(rgb), self.second.predict(rgb))

    def _prepare(self, rgb: np.ndarray):
        t1, seen = self.first.prepare(rgb)
        t2, _ = self.second.prepare(rgb)
        return (t1, t2), seen

    def _predict_prepared(self, tensors) -> np.ndarray:
        return self._average(self.first.predict_prepared(tensors[0]), self.second.predict_prepared(tensors[1]))

    def reset(self) -> None:
        self.first.reset()
        self.second.reset()


def _refuse_video_matting(inner, view: str) -> None:
    """A view of the frame other than the frame itself (`view`) is for frame-by-frame models: a
    video-matting model's memory (RVM) would see the picture jump between views."""
    for m in (getattr(inner, "first", inner), getattr(inner, "second", inner)):
        if getattr(m.spec, "family", None) == "rvm":
            raise ModelError(f"'{m.spec.id}' is a video-matting model with its own memory; {view} is for "
                             "frame-by-frame models")


class MirroredMatter:
    """A frame-by-frame model (or a second opinion's pair) run on the frame and on its mirror image; the
    mirror's person confidence, flipped back, is averaged with the frame's (test-time augmentation).

    A network is not exactly mirror-symmetric, so where a dark or cluttered background is taken for a
    person in one view it often is not in the other, and the average falls below the threshold; the
    person itself is found in both. Costs a second inference per model. Measured on fifteen draws of the
    low-light scene (tools/low_light_draws.py, README "Quality"). The frame as the model saw it,
    unmirrored (last_model_rgb), feeds the temporal smoother's gate. Video-matting models (RVM) are
    refused: their memory would see the picture jump from frame to mirror and back.
    """

    def __init__(self, inner):
        _refuse_video_matting(inner, "a mirror pass")
        self.inner = inner
        self.spec = inner.spec
        self.info = getattr(inner, "info", None)
        if hasattr(inner, "prepare"):  # a stream can prepare both views while the model runs
            self.prepare, self.predict_prepared = self._prepare, self._predict_prepared

    @property
    def last_model_rgb(self):
        return self.inner.last_model_rgb

    @staticmethod
    def _average(p: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
        return cv2.addWeighted(p, 0.5, cv2.flip(mirrored, 1), 0.5, 0.0)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        mirrored = self.inner.predict(cv2.flip(rgb, 1))
        return self._average(self.inner.predict(rgb), mirrored)  # the frame last: its picture stays seen

    def _prepare(self, rgb: np.ndarray):
        tensor, seen = self.inner.prepare(rgb)
        mirrored, _ = self.inner.prepare(cv2.flip(rgb, 1))
        return (tensor, mirrored), seen

    def _predict_prepared(self, tensors) -> np.ndarray:
        return self._average(self.inner.predict_prepared(tensors[0]), self.inner.predict_prepared(tensors[1]))

    def reset(self) -> None:
        self.inner.reset()


class TiledMatter:
    """A frame much wider than the model's input seen as square tiles too: each tile gets the model's whole
    input, so people at the sides of a wide frame are not squeezed into a few columns.

    A square-input model (MediaPipe general, 256x256) sees a 16:9 frame squashed 2.5x across and 1.4x
    down: a small or crouching person beside two others is a sliver, and over twenty draws of the
    multi-person scene (tools/scene_draws.py --scene multi_person) the model lost one or more people on
    15 of them. Here, when the frame's aspect exceeds the model input's by more than WIDE_RATIO, it runs
    on n = ceil(aspect ratio) square tiles (the frame's full height; the first at the left edge, the
    last at the right, evenly spread, so neighbours overlap), and the tiles' confidences are stitched
    into one mask S high and S * w / h wide (S = the model's output height), cross-faded over the middle
    RAMP of each overlap. Costs n inferences instead of one. Narrower frames go to the model as they are.
    The frame as the stitched mask sees it (last_model_rgb) feeds the temporal smoother's gate.
    Video-matting models (RVM) are refused: their memory would see the picture jump between tiles.
    """

    WIDE_RATIO = 1.15
    RAMP = 0.3  # of a tile's width: the cross-fade between neighbouring tiles

    def __init__(self, inner):
        _refuse_video_matting(inner, "wide-frame tiles")
        self.inner = inner
        self.spec = inner.spec
        self.info = getattr(inner, "info", None)
        self._seen: np.ndarray | None = None

    @property
    def last_model_rgb(self):
        return self._seen if self._seen is not None else self.inner.last_model_rgb

    def tile_xs(self, frame_hw: tuple[int, int]) -> list[int]:
        """Left edges of the square tiles for a frame (h, w); [] when the frame is not wide for the model."""
        h, w = frame_hw
        in_h, in_w = self.spec.input.size or (h, w)
        if w / h <= self.WIDE_RATIO * in_w / in_h or w <= h:
            return []
        n = int(np.ceil(w / h))
        return [round(i * (w - h) / (n - 1)) for i in range(n)]

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        xs = self.tile_xs(rgb.shape[:2])
        if not xs:
            self._seen = None
            return self.inner.predict(rgb)
        h, w = rgb.shape[:2]
        probs = [self.inner.predict(np.ascontiguousarray(rgb[:, x:x + h])) for x in xs]
        side = probs[0].shape[0]
        width = round(side * w / h)
        total = np.zeros((side, width), np.float32)
        weight = np.zeros((side, width), np.float32)
        for i, (x, prob) in enumerate(zip(xs, probs)):
            if prob.shape != (side, side):
                prob = cv2.resize(prob, (side, side), interpolation=cv2.INTER_LINEAR)
            x0 = min(round(x * side / h), width - side)
            # weight 1 inside, ramping to 0 over RAMP of the tile at an edge it shares with a neighbour
            ramp = np.clip((np.arange(side, dtype=np.float32) + 0.5) / (self.RAMP * side), 0.0, 1.0)
            wt = np.ones(side, np.float32)
            if i > 0:
                wt = np.minimum(wt, ramp)
            if i < len(xs) - 1:
                wt = np.minimum(wt, ramp[::-1])
            total[:, x0:x0 + side] += prob * wt
            weight[:, x0:x0 + side] += wt
        self._seen = shrink_for_model(rgb, (side, width))
        return total / np.maximum(weight, 1e-6)

    def reset(self) -> None:
        self.inner.reset()


def create_matter(model: str | ModelSpec, device: str = "auto", threads: int = 0,
                  search_dirs: list[Path] | None = None, model_path: str | Path | None = None,
                  **adapter_options) -> Matter:
    """Load a model by id (or spec) and wrap it in its family's adapter, warmed up on its device.

    Raises ModelError when the file is missing or corrupt (with where it was looked for).
    """
    spec = get_spec(model) if isinstance(model, str) else model
    path = Path(model_path) if model_path else spec.find_file(search_dirs)
    if path is None:
        where = ", ".join(str(d) for d in (search_dirs or paths.model_search_dirs()))
        hint = " (the installer can download it)" if spec.download else ""
        raise ModelError(f"model file for '{spec.id}' not found: {spec.file} in {where}{hint}")
    adapter_cls = ADAPTERS[spec.family]
    matter = adapter_cls(spec, None, None, **adapter_options)
    session, info = create_session(path, device, threads, warmup=matter.warmup)
    matter.session, matter.info = session, info
    matter.path = path
    return matter
