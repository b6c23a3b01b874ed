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
from .errors import InferenceError, ModelError
from .runtime import SessionInfo, create_session, first_line

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
        # the normalisation's constants, shaped for the layout, once (prepare() and predict() use them per frame)
        inp = spec.input
        mean = np.asarray(inp.mean, np.float32)
        factor = np.float32(inp.scale) / np.asarray(inp.std, np.float32)
        self._plain_factor = factor[0] if not mean.any() and bool(np.all(factor == factor[0])) else None
        self._mean, self._factor = (mean, factor) if inp.layout == "NHWC" else (mean[:, None, None],
                                                                               factor[:, None, None])

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
        so a stream can prepare the next frame on another thread while the model runs this one. It touches
        nothing the adapter keeps: a view (the subject zoom's crop) may be running predict() on this same
        adapter on the other thread, filling its buffer and setting its last_model_rgb meanwhile."""
        self._check_frame(rgb)
        img = self._resized(rgb, self.input_hw(rgb.shape[:2]))
        return self._fill(img, np.empty(self._tensor_shape(img), np.float32)), img

    def predict_prepared(self, tensor: np.ndarray) -> np.ndarray:
        """predict() for a tensor from prepare() (last_model_rgb is left alone: it may already belong to
        the next frame, being prepared on another thread)."""
        return self._run(self.feeds_for(tensor))

    @staticmethod
    def _check_frame(rgb: np.ndarray) -> None:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ModelError(f"expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            outputs = self.session.run(None, feeds)
        except Exception as e:  # onnxruntime's own types: a device lost or out of memory, among others
            raise InferenceError(f"model {self.spec.id} failed to run ({first_line(e)})") from None
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
        beyond the resize); the resized frame becomes last_model_rgb."""
        img = self._resized(rgb, self.input_hw(rgb.shape[:2]))
        self.last_model_rgb = img
        shape = self._tensor_shape(img)
        if self._input is None or self._input.shape != shape:
            self._input = np.empty(shape, np.float32)
        return self._fill(img, self._input)

    def _tensor_shape(self, img: np.ndarray) -> tuple[int, int, int, int]:
        h, w = img.shape[:2]
        return (1, h, w, 3) if self.spec.input.layout == "NHWC" else (1, 3, h, w)

    def _fill(self, img: np.ndarray, tensor: np.ndarray) -> np.ndarray:
        """The resized frame `img` reordered and normalised into `tensor`. With zero mean and unit std
        (MediaPipe, RVM) it is a single multiply."""
        spec = self.spec.input
        if spec.channels == "BGR":
            img = img[:, :, ::-1]
        dst = tensor[0]
        src = img if spec.layout == "NHWC" else img.transpose(2, 0, 1)
        if self._plain_factor is not None:
            np.multiply(src, self._plain_factor, out=dst, casting="unsafe")
        else:
            np.subtract(src, self._mean, out=dst, casting="unsafe")
            np.multiply(dst, self._factor, out=dst)
        return tensor

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
    into one mask S high and S * w / h wide (S = the model's output height), where tiles overlap the
    higher of their confidences: a person either tile sees is kept. (A cross-fade over the overlap lost
    whoever stood on the seam, in the middle of the frame: the tile that sees them cut by its edge
    takes them for background. Over 40 draws of the multi-person scene, 19 persons lost with the
    cross-fade, 13 with the maximum, MAE and edges the same: tools/scene_draws.py --scene multi_person
    --draws 40.) Costs n inferences instead of one. Narrower frames go to the model as they are, and so do
    frames wider than MAX_TILES squares.
    The frame as the stitched mask sees it (last_model_rgb) feeds the temporal smoother's gate.
    Video-matting models (RVM) are refused: their memory would see the picture jump between tiles.
    """

    WIDE_RATIO = 1.15
    # 16:9 needs 2 tiles, 21:9 3, 32:9 4. Beyond, the count (and the stitched mask, S x S * w / h) grows
    # with the aspect without limit: a 1x2000 strip would cost 2000 inferences and a ~0.5 GB mask. Such a
    # frame goes to the model whole, as one that is not wide.
    MAX_TILES = 4

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
        """Left edges of the square tiles for a frame (h, w); [] when the frame is not wide for the model or
        would need more than MAX_TILES tiles."""
        h, w = frame_hw
        in_h, in_w = self.spec.input.size or (h, w)
        if w / h <= self.WIDE_RATIO * in_w / in_h or w <= h:
            return []
        n = int(np.ceil(w / h))
        if n > self.MAX_TILES:
            return []
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
        stitched = np.zeros((side, width), np.float32)
        for x, prob in zip(xs, probs):
            if prob.shape != (side, side):
                prob = cv2.resize(prob, (side, side), interpolation=cv2.INTER_LINEAR)
            x0 = min(round(x * side / h), width - side)
            np.maximum(stitched[:, x0:x0 + side], prob, out=stitched[:, x0:x0 + side])
        self._seen = shrink_for_model(rgb, (side, width))
        return stitched

    def reset(self) -> None:
        self.inner.reset()


def _edge_fade(n: int, at_start: bool, at_end: bool, width: float) -> np.ndarray:
    """Weights along n cells: 1, ramping to 0 over `width` cells towards each end that is blended with a
    neighbour (at_start, at_end): the cross-fade of the subject zoom's crop into the whole frame's mask."""
    ramp = np.clip((np.arange(n, dtype=np.float32) + 0.5) / max(width, 1.0), 0.0, 1.0)
    w = np.ones(n, np.float32)
    if at_start:
        w = np.minimum(w, ramp)
    if at_end:
        w = np.minimum(w, ramp[::-1])
    return w


def _grown(box, margin: float):
    """A box (y0, y1, x0, x1) in fractions of the frame, grown by `margin` of its own size on each side,
    within the frame."""
    y0, y1, x0, x1 = box
    my, mx = (y1 - y0) * margin, (x1 - x0) * margin
    return max(0.0, y0 - my), min(1.0, y1 + my), max(0.0, x0 - mx), min(1.0, x1 + mx)


def _area(box) -> float:
    return (box[1] - box[0]) * (box[3] - box[2])


class ZoomedMatter:
    """Subject zoom: a quick look at the whole frame finds the person(s); the model(s) then look again at a
    crop around them, so the person fills the model's small input instead of a part of it.

    The models see a 256-pixel copy of the frame; a person over half a webcam frame gets half of those
    pixels, and the outline (hair, a raised arm, a dark sleeve) is decided on a handful of them. The
    finder (the first model alone, one inference on the whole frame) gives the box around everything it
    takes for a person (confidence >= FIND_LEVEL), widened by `margin` on each side and to an aspect the
    model's input does not squash more than ASPECT_LIMIT times; `inner` (the preset's full view: second
    opinion, mirror pass) runs on that crop, and its answer replaces the finder's inside the box,
    cross-faded into it over the crop's outer FADE where the frame goes on. Outside it the finder's own
    answer stays (below FIND_LEVEL there by construction). A box covering more than
    MAX_AREA of the frame gains little: `inner` then runs on the whole frame, as without the zoom (unless
    `inner` is the finder itself, whose answer is then the frame's).

    In a stream the box holds still while the person stays inside it and it is not much larger than
    needed (HOLD_GROWTH), so a still person is cropped the same way frame after frame and the crop adds
    no flicker; it follows at once when the person leaves it. Costs one inference of the first model on
    top of `inner`'s. The frame as the finder saw it (last_model_rgb) feeds the temporal smoother's gate:
    the answer is on the finder's grid. Video-matting models (RVM) are refused, as for the other views.
    """

    FIND_LEVEL = 0.3
    MARGIN = 0.15  # the default margin (settings.zoom_margin): of the box's own size, each side
    MAX_AREA = 0.8  # of the frame
    MIN_CROP = 16  # pixels: a speck the finder takes for a person is not worth a crop
    ASPECT_LIMIT = 2.0  # the crop is at most this much wider or taller than the model's input shape
    HOLD_GROWTH = 1.5  # a held box may be up to this much larger (area) than the current one needs
    FADE = 0.06  # of the crop's size: the cross-fade into the finder's answer at the crop's inner borders

    def __init__(self, finder, inner, margin: float = MARGIN):
        _refuse_video_matting(finder, "subject zoom")
        _refuse_video_matting(inner, "subject zoom")
        self.finder, self.inner = finder, inner
        self.margin = float(margin)  # of the box's own size, each side (settings.zoom_margin)
        self.spec = inner.spec
        self.info = getattr(inner, "info", None)
        self._seen: np.ndarray | None = None
        self.box: tuple[float, float, float, float] | None = None  # held crop (y0, y1, x0, x1), 0..1
        if hasattr(finder, "prepare"):  # a stream can prepare the finder's input while the model runs
            self.prepare, self.predict_prepared = self._prepare, self._predict_prepared

    @property
    def last_model_rgb(self):
        return self._seen

    def find_box(self, prob: np.ndarray, frame_hw: tuple[int, int]):
        """(crop, core) as fractions of the frame (y0, y1, x0, x1) for the finder's confidence: the core
        around what it takes for a person, the crop with the margin and the aspect limit; None when
        nobody is found, or the crop would cover more than MAX_AREA of the frame or be under MIN_CROP
        pixels on a side."""
        rows = np.flatnonzero((prob >= self.FIND_LEVEL).any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero((prob[rows[0]:rows[-1] + 1] >= self.FIND_LEVEL).any(axis=0))
        ph, pw = prob.shape[:2]
        core = (rows[0] / ph, (rows[-1] + 1) / ph, cols[0] / pw, (cols[-1] + 1) / pw)
        y0, y1, x0, x1 = _grown(core, self.margin)
        # keep the crop's pixel aspect within ASPECT_LIMIT of the model input's: widen or heighten it
        h, w = frame_hw
        in_h, in_w = self.spec.input.size or frame_hw
        aspect, model_aspect = (x1 - x0) * w / ((y1 - y0) * h), in_w / in_h
        if aspect < model_aspect / self.ASPECT_LIMIT:
            grow = ((y1 - y0) * h * model_aspect / self.ASPECT_LIMIT / w - (x1 - x0)) / 2
            x0, x1 = max(0.0, x0 - grow), min(1.0, x1 + grow)
        elif aspect > model_aspect * self.ASPECT_LIMIT:
            grow = ((x1 - x0) * w / (model_aspect * self.ASPECT_LIMIT) / h - (y1 - y0)) / 2
            y0, y1 = max(0.0, y0 - grow), min(1.0, y1 + grow)
        if _area((y0, y1, x0, x1)) > self.MAX_AREA or min((y1 - y0) * h, (x1 - x0) * w) < self.MIN_CROP:
            return None
        return (y0, y1, x0, x1), core

    def _hold(self, found):
        """The held crop while it still holds the person (the new core and a third of its margin) and is
        not much larger than the new crop; else the new crop."""
        held = self.box
        if found is not None and held is not None:
            crop, core = found
            need = _grown(core, self.margin / 3)
            inside = held[0] <= need[0] and need[1] <= held[1] and held[2] <= need[2] and need[3] <= held[3]
            if inside and _area(held) <= self.HOLD_GROWTH * _area(crop):
                return held
        self.box = found[0] if found is not None else None
        return self.box

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        prob = self.finder.predict(rgb)
        return self._zoom(rgb, prob, self.finder.last_model_rgb)

    def _prepare(self, rgb: np.ndarray):
        tensor, seen = self.finder.prepare(rgb)
        return (tensor, seen, rgb), seen

    def _predict_prepared(self, prepared) -> np.ndarray:
        tensor, seen, rgb = prepared
        return self._zoom(rgb, self.finder.predict_prepared(tensor), seen)

    def _zoom(self, rgb: np.ndarray, prob: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """The finder's answer `prob` on the frame `rgb` (seen by it as `seen`), with the view's answer on
        the crop around the person in place of its own."""
        self._seen = seen
        box = self._hold(self.find_box(prob, rgb.shape[:2]))
        if box is None and self.inner is self.finder:  # the view is the finder alone: it has answered
            return prob
        if box is None:
            whole = self._whole(rgb, prob)
            if whole.shape != prob.shape:
                whole = cv2.resize(whole, (prob.shape[1], prob.shape[0]), interpolation=cv2.INTER_LINEAR)
            return whole
        h, w = rgb.shape[:2]
        y0, y1 = int(box[0] * h), max(int(box[0] * h) + 1, int(np.ceil(box[1] * h)))
        x0, x1 = int(box[2] * w), max(int(box[2] * w) + 1, int(np.ceil(box[3] * w)))
        crop = self.inner.predict(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
        ph, pw = prob.shape[:2]
        py0, py1 = round(y0 / h * ph), max(round(y0 / h * ph) + 1, round(y1 / h * ph))
        px0, px1 = round(x0 / w * pw), max(round(x0 / w * pw) + 1, round(x1 / w * pw))
        shrinking = crop.shape[0] > py1 - py0
        crop = cv2.resize(crop, (px1 - px0, py1 - py0), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        out = prob.astype(np.float32, copy=True)
        # cross-fade into the finder's answer over the crop's outer band where the frame goes on, so what
        # the crop finds at its border (a hand the finder missed) fades out instead of ending in a straight cut
        wy = _edge_fade(py1 - py0, py0 > 0, py1 < ph, (py1 - py0) * self.FADE)
        wx = _edge_fade(px1 - px0, px0 > 0, px1 < pw, (px1 - px0) * self.FADE)
        weight = np.minimum.outer(wy, wx)
        region = out[py0:py1, px0:px1]
        out[py0:py1, px0:px1] = region + weight * (crop - region)
        return out

    def _whole(self, rgb: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """The view's answer on the whole frame. A second opinion whose first model is the finder (Café: no
        mirror, no tiles) takes the finder's answer `prob` for it instead of running that model again."""
        inner = self.inner
        if isinstance(inner, AveragedMatter) and inner.first is self.finder:
            return inner._average(prob, inner.second.predict(rgb))
        return inner.predict(rgb)

    def reset(self) -> None:
        self.box = None
        self.finder.reset()
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
