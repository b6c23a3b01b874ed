"""Exact-truth test images per scene, built deterministically in memory.

Every sample is a composite out = a*F + (1-a)*B: the alpha `a` we composite with is exact by
construction, whatever the quality of the portraits' own (pseudo ground truth) mattes. The portraits
come from ../shared/eval/portraits; backgrounds are generated (studio), real photos shipped with
scikit-image (cafe), other portraits (multi-person), or darkened with sensor-like noise (low light).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import paths
from ..errors import ImageError

SCENES = ("studio", "cafe", "multi_person", "low_light")
WORK_SIDE = 640  # long side of every test image: a webcam frame after the filter's own downscale
MULTI_CANVAS = (360, 640)  # (h, w) of a multi-person frame, 16:9 like a stream
LIVE_SEED_STEP = 7919  # a live frame's noise seed: the still's own + this * frame index (no collisions)
TUNE_COUNT = 8  # the first 8 portraits (sorted by name) are the tuning split, the other 4 are held out
LOW_LIGHT_NOISE_SEED = 3000  # the eval's low-light scene: image i darkened with seed + i...
LOW_LIGHT_BACKGROUND_SEED = 300  # ...over backdrop index + i
CAFE_PHOTOS = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "immunohistochemistry",
               "astronaut_crop")


@dataclass
class Portrait:
    name: str
    rgb: np.ndarray  # uint8 (H, W, 3), long side WORK_SIDE
    alpha: np.ndarray  # float32 (H, W) in [0, 1]


@dataclass
class Sample:
    """One test image with its exact truth.

    `foreground` is the colour that was composited (where alpha > 0), so a*F + (1-a)*B == image up to
    uint8 rounding; `persons` holds each person's visible alpha (their union is `alpha`).
    """
    scene: str
    name: str
    image: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    persons: list[np.ndarray] = field(default_factory=list)
    sources: tuple[str, ...] = ()
    normal_light: np.ndarray | None = None  # low light only: the same composite before darkening
    darkening: tuple[int, float] | None = None  # low light only: (noise seed, exposure) of `image`

    _live: dict = field(default_factory=dict, repr=False, compare=False)

    def live_frames(self, count: int) -> list[np.ndarray]:
        """Low light: `image` and count - 1 more frames of the same dim scene, each with its own sensor
        noise, as a webcam gives them while the person sits still.

        Made once per sample and count and kept (read-only): the frames are the same for every method, and
        drawing their noise took over half of each low-light candidate's time in `obs-matting tune`."""
        if count not in self._live:
            seed, exposure = self.darkening
            frames = [self.image] + [darken(self.normal_light, seed=seed + LIVE_SEED_STEP * t, exposure=exposure)
                                     for t in range(1, count)]
            for f in frames[1:]:
                f.flags.writeable = False
            self._live[count] = frames
        return list(self._live[count])


# ----------------------------------------------------------------------------------------- portraits
def portraits_dir() -> Path:
    return paths.SHARED_DIR / "eval" / "portraits"


def _resize_long_side(img: np.ndarray, side: int, interpolation=cv2.INTER_AREA) -> np.ndarray:
    h, w = img.shape[:2]
    s = side / max(h, w)
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interpolation)


def load_portraits(folder: Path | None = None, limit: int | None = None) -> list[Portrait]:
    """The evaluation portraits (sorted by name), resized so the long side is WORK_SIDE."""
    folder = Path(folder or portraits_dir())
    files = sorted((folder / "image").glob("*.jpg"))
    if not files:
        raise ImageError(f"no portraits found in {folder / 'image'} (the shared evaluation data is missing)")
    out = []
    for f in files[:limit]:
        bgr = cv2.imread(str(f))
        a = cv2.imread(str(folder / "alpha" / (f.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        if bgr is None or a is None:
            raise ImageError(f"cannot read portrait {f.name} or its alpha in {folder}")
        rgb = _resize_long_side(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), WORK_SIDE)
        alpha = cv2.resize(a, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
        out.append(Portrait(f.stem, rgb, alpha.astype(np.float32) / 255.0))
    return out


def split(portraits: list[Portrait], which: str) -> list[Portrait]:
    """'tune' (first TUNE_COUNT), 'held_out' (the rest) or 'all'. build_split composites a split over its
    own backdrops."""
    if which == "tune":
        return portraits[:TUNE_COUNT]
    if which == "held_out":
        return portraits[TUNE_COUNT:]
    return list(portraits)


# ---------------------------------------------------------------------------------------- compositing
def blocky_edge_case(rgb: np.ndarray, truth: np.ndarray, long_side: int = 1280, mask_width: int = 256
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frame, alpha, upsampled mask, edge band) for judging edge refinement on a real portrait.

    The portrait and its alpha at `long_side` px; a hard mask of the alpha at `mask_width` px (what a
    thresholded model output looks like) upsampled back bilinearly; and the band where refinement is
    judged: the true 0.5 contour and the soft alpha, dilated by 7 px."""
    h, w = truth.shape
    scale = long_side / max(h, w)
    size = (round(w * scale), round(h * scale))
    frame = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(truth, size, interpolation=cv2.INTER_AREA)
    low = cv2.resize(alpha, (mask_width, round(mask_width * size[1] / size[0])), interpolation=cv2.INTER_AREA)
    up = cv2.resize((low >= 0.5).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    edge = cv2.morphologyEx((alpha >= 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    band = cv2.dilate(edge | ((alpha > 0.02) & (alpha < 0.98)).astype(np.uint8),
                      np.ones((15, 15), np.uint8)).astype(bool)
    return frame, alpha, up, band


def composite(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """a*F + (1-a)*B rounded to uint8."""
    a = alpha[..., None].astype(np.float32)
    out = a * fg.astype(np.float32) + (1.0 - a) * bg.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _sample(scene: str, name: str, fg, alpha, bg, sources, persons=None) -> Sample:
    return Sample(scene, name, composite(fg, alpha, bg), alpha.astype(np.float32), fg, bg,
                  persons if persons is not None else [alpha.astype(np.float32)], tuple(sources))


# ----------------------------------------------------------------------------------- studio backdrops
def studio_background(hw: tuple[int, int], index: int) -> np.ndarray:
    """Plain or softly graded backdrop, even light: flat colour, gradient or vignette (by index)."""
    rng = np.random.default_rng(1000 + index)
    h, w = hw
    palette = np.array([[40, 40, 44], [200, 200, 205], [46, 84, 140], [30, 120, 70], [120, 120, 124],
                        [230, 226, 214], [90, 60, 110], [20, 20, 22]], np.float32)
    c1 = palette[index % len(palette)]
    c2 = np.clip(c1 + rng.uniform(-60, 60, 3), 0, 255)
    kind = index % 3
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # flat colour
        t = np.zeros((h, w), np.float32)
    elif kind == 1:  # linear gradient at a random angle
        ang = rng.uniform(0, np.pi)
        t = (np.cos(ang) * xx / w + np.sin(ang) * yy / h)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    else:  # vignette: bright centre, darker corners
        r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)) / np.sqrt(2)
        t = np.clip(r, 0, 1) ** 1.5
    bg = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
    bg += rng.normal(0, 1.0, bg.shape)  # a little sensor grain, so the backdrop is not synthetic-flat
    return np.clip(np.rint(bg), 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------- cafe photos
def _photo(name: str) -> np.ndarray:
    try:
        from skimage import data
    except ImportError:
        raise ImageError("the cafe scene needs scikit-image (pip install scikit-image)") from None
    if name == "astronaut_crop":  # the astronaut photo has a person: keep only its right third (flag, shuttle)
        img = data.astronaut()[:, 340:]
    else:
        img = getattr(data, name)()
    if img.ndim == 2:  # greyscale textures (brick, grass, gravel): tint them warm, close to skin/hair
        g = img.astype(np.float32)
        img = np.stack([g * 1.0, g * 0.78, g * 0.62], axis=-1)
    return np.clip(img[..., :3], 0, 255).astype(np.uint8)


def cafe_background(hw: tuple[int, int], index: int) -> np.ndarray:
    """A real cluttered photo, cropped at random (fixed seed) to the frame's aspect and resized."""
    rng = np.random.default_rng(2000 + index)
    img = _photo(CAFE_PHOTOS[index % len(CAFE_PHOTOS)])
    h, w = hw
    ih, iw = img.shape[:2]
    # Largest crop of the target aspect that fits, scaled down by up to 25% for variety.
    scale = min(ih / h, iw / w) * rng.uniform(0.75, 1.0)
    ch, cw = max(8, int(h * scale)), max(8, int(w * scale))
    y0 = int(rng.integers(0, ih - ch + 1))
    x0 = int(rng.integers(0, iw - cw + 1))
    crop = img[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_LINEAR)


# ------------------------------------------------------------------------------------------- scenes
def build_studio(portraits: list[Portrait], background_offset: int = 0) -> list[Sample]:
    """Each portrait over a plain or graded backdrop; another background_offset is another draw of the
    scene (other colours and kinds per portrait; tools/scene_draws.py)."""
    return [_sample("studio", p.name, p.rgb, p.alpha, studio_background(p.alpha.shape, i + background_offset),
                    [p.name]) for i, p in enumerate(portraits)]


def build_cafe(portraits: list[Portrait], background_offset: int = 0) -> list[Sample]:
    """Each portrait over a crop of a real cluttered photo. The default is the eval's scene; another
    background_offset gives other crops and another pairing of portraits and photos: another draw of the
    same scene (tools/scene_draws.py)."""
    return [_sample("cafe", p.name, p.rgb, p.alpha, cafe_background(p.alpha.shape, i + background_offset), [p.name])
            for i, p in enumerate(portraits)]


def _person_strip(p: Portrait, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The portrait cropped to the person's columns (plus a small margin) and scaled to `height`."""
    cols = np.where(p.alpha.max(axis=0) > 0.05)[0]
    x0, x1 = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, p.alpha.shape[1])
    margin = (x1 - x0) // 20
    x0, x1 = max(0, x0 - margin), min(p.alpha.shape[1], x1 + margin)
    rgb, a = p.rgb[:, x0:x1], p.alpha[:, x0:x1]
    s = height / rgb.shape[0]
    size = (max(1, round(rgb.shape[1] * s)), height)
    return (cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA),
            cv2.resize(np.ascontiguousarray(a), size, interpolation=cv2.INTER_AREA))


# (portrait count, gap between neighbours as a fraction of the canvas width; negative = overlap).
# Separate people are where a "largest blob only" rule loses someone; overlapping ones must not merge.
MULTI_LAYOUTS = ((2, 0.06), (2, -0.03), (3, 0.02), (2, 0.10), (3, -0.02), (2, 0.0))


def build_multi_person(portraits: list[Portrait], order_seed: int | None = None,
                       background_offset: int = 0) -> list[Sample]:
    """Two or three people side by side over a studio or cafe background, scaled to fit the canvas.

    The defaults are the eval's scene; order_seed shuffles who stands beside whom and background_offset
    picks other backdrops: another draw of the same scene (tools/scene_draws.py)."""
    if order_seed is not None:
        portraits = [portraits[j] for j in np.random.default_rng(order_seed).permutation(len(portraits))]
    out, i, k = [], 0, 0
    ch, cw = MULTI_CANVAS
    while i + 1 < len(portraits) and k < len(MULTI_LAYOUTS):
        count, gap = MULTI_LAYOUTS[k]
        group = portraits[i:i + count]
        if len(group) < 2:
            break
        bg = (studio_background if k % 2 == 0 else cafe_background)((ch, cw), 50 + k + background_offset)
        height = int(ch * 0.92)
        strips = [_person_strip(p, height) for p in group]
        gap_px = int(gap * cw)
        total = sum(s[0].shape[1] for s in strips) + gap_px * (len(strips) - 1)
        if total > cw:  # too wide: shrink everyone the same amount
            height = int(height * cw / total * 0.98)
            strips = [_person_strip(p, height) for p in group]
            total = sum(s[0].shape[1] for s in strips) + gap_px * (len(strips) - 1)
        x = max(0, (cw - total) // 2)
        fg = np.zeros((ch, cw, 3), np.float32)  # premultiplied colour so far
        union = np.zeros((ch, cw), np.float32)
        layers = []
        for rgb, a in strips:
            w = min(rgb.shape[1], cw - x)
            layer_a = np.zeros((ch, cw), np.float32)
            layer_c = np.zeros((ch, cw, 3), np.float32)
            layer_a[ch - rgb.shape[0]:, x:x + w] = a[:, :w]
            layer_c[ch - rgb.shape[0]:, x:x + w] = rgb[:, :w]
            # "over": the new person in front of the ones already placed.
            fg = layer_a[..., None] * layer_c + (1 - layer_a[..., None]) * fg
            layers = [l * (1 - layer_a) for l in layers] + [layer_a]
            union = layer_a + (1 - layer_a) * union
            x += rgb.shape[1] + gap_px
        union = np.clip(union, 0.0, 1.0)  # "over" can round a hair above 1
        colour = np.where(union[..., None] > 1e-6, fg / np.maximum(union[..., None], 1e-6), 0)
        colour = np.clip(colour, 0, 255).astype(np.float32)
        name = "+".join(p.name for p in group)
        out.append(_sample("multi_person", name, colour, union, bg, [p.name for p in group], layers))
        i += count
        k += 1
    return out


def darken(rgb: np.ndarray, seed: int, exposure: float = 0.15, full_well: float = 250.0,
           read_noise: float = 2.5) -> np.ndarray:
    """A dim room on a small webcam sensor: lower exposure in linear light, Poisson shot noise on
    `full_well` electrons at white, Gaussian read noise, back to sRGB-ish gamma."""
    rng = np.random.default_rng(seed)
    lin = (rgb.astype(np.float32) / 255.0) ** 2.2 * exposure
    electrons = rng.poisson(lin * full_well).astype(np.float32) + rng.normal(0, read_noise, lin.shape)
    lin_noisy = np.clip(electrons / full_well, 0, 1)
    return np.clip(np.rint(255.0 * lin_noisy ** (1 / 2.2)), 0, 255).astype(np.uint8)


def build_low_light(portraits: list[Portrait], noise_seed: int = LOW_LIGHT_NOISE_SEED, exposure: float = 0.15,
                    background_seed: int = LOW_LIGHT_BACKGROUND_SEED, swap_backgrounds: bool = False
                    ) -> list[Sample]:
    """Studio (even index) or cafe (odd index) composites darkened with noise; the truth is unchanged.

    The defaults are the eval's scene; other seeds, exposures and backgrounds are other draws of the same
    scene (tools/low_light_draws.py: how much a figure owes to the one draw the eval scores)."""
    out = []
    for i, p in enumerate(portraits):
        studio = (i % 2 == 0) != swap_backgrounds
        bg = (studio_background if studio else cafe_background)(p.alpha.shape, background_seed + i)
        s = _sample("low_light", p.name, p.rgb, p.alpha, bg, [p.name])
        s.normal_light = s.image
        s.darkening = (noise_seed + i, exposure)
        s.image = darken(s.image, seed=noise_seed + i, exposure=exposure)
        out.append(s)
    return out


BUILDERS = {"studio": build_studio, "cafe": build_cafe, "multi_person": build_multi_person,
            "low_light": build_low_light}


# The builders pick each image's backdrop (and low light's noise) by the image's index in the list they are
# given, so a split built on its own would start again at index 0: the held-out images would sit on the tuning
# images' backdrops, and a held-out figure would not be on backdrops the search never saw. The held-out split
# therefore starts past every index the tuning split uses. For studio, café and low light that is the portrait's
# index among all of them, so each held-out image is the very image the eval's scene has for that portrait;
# multi-person groups differ by split anyway, and its backdrops start past the most a split can use (one per
# layout). Café photos: the tuning split already shows all eight, so a held-out café backdrop is another crop
# (other place, scale, mirror) of a photo the search saw, not a new photo; only more photos would change that.
HELD_OUT_ARGS = {
    "studio": {"background_offset": TUNE_COUNT},
    "cafe": {"background_offset": TUNE_COUNT},
    "multi_person": {"background_offset": len(MULTI_LAYOUTS)},
    "low_light": {"background_seed": LOW_LIGHT_BACKGROUND_SEED + TUNE_COUNT,
                  "noise_seed": LOW_LIGHT_NOISE_SEED + TUNE_COUNT},
}


def build_scene(scene: str, portraits: list[Portrait], which: str = "all") -> list[Sample]:
    """The scene's samples of `portraits`, which are the split `which` of the evaluation portraits.

    "all" is the eval's scene (its images must never change: every published figure is measured on them) and
    "tune" the same builder on the tuning split (its images are the first ones of "all"); "held_out" takes
    backdrops the tuning split does not use (HELD_OUT_ARGS)."""
    if scene not in BUILDERS:
        raise ValueError(f"unknown scene '{scene}' (known: {', '.join(SCENES)})")
    if which not in ("tune", "held_out", "all"):
        raise ValueError(f"unknown split '{which}' (known: tune, held_out, all)")
    return BUILDERS[scene](portraits, **(HELD_OUT_ARGS[scene] if which == "held_out" else {}))


def build_split(scene: str, portraits: list[Portrait], which: str) -> list[Sample]:
    """The scene on the split `which` of all the portraits, over that split's backdrops."""
    return build_scene(scene, split(portraits, which), which)
