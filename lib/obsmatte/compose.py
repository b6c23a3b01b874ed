"""CPU compositing: the command line's twin of the OBS effect shader, plus image loading and saving.

Frames are uint8 RGB HxWx3; alpha is float32 HxW in [0, 1] at the frame's size. Each background mode's
maths is written in composite()'s docstring so the shader can mirror it.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Collection, Iterable

import cv2
import numpy as np

from . import fast_guided, refine
from .errors import ImageError, MattingError, SettingsError
from .settings import FIELDS_BY_KEY, MatteSettings, parse_color

SUPPORTED_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_DEFAULT_COLOR = parse_color(FIELDS_BY_KEY["background_color"].default)
_JPEG_QUALITY = 95


# --- mask to full size -----------------------------------------------------------------------------

def upsample_mask(mask: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear (cv2.INTER_LINEAR) resize of a float32 mask to (width, height)."""
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2 or mask.size == 0:
        raise MattingError(f"mask must be a non-empty 2-D array, got shape {mask.shape}")
    w, h = int(size_wh[0]), int(size_wh[1])
    if w <= 0 or h <= 0:
        raise MattingError(f"cannot upsample a mask to {w}x{h}")
    if mask.shape == (h, w):
        return mask
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)


def finish_alpha(mask: np.ndarray, frame_rgb: np.ndarray, settings: MatteSettings,
                 temporal: fast_guided.TemporalGuide | None = None) -> np.ndarray:
    """Model-size mask -> full-size alpha with exactly the OBS filter's maths (fast_guided.py):
    erode/dilate and the colour guided coefficients (or a blur feather) at the mask's size, packed into
    the 16-bit texture the shader reads, then applied against the full-size frame and re-sharpened. What the command line and
    `obs-matting eval` measure is therefore what streams.

    temporal: the stream's TemporalGuide (pipeline.MaskPipeline.guide_filter). With steady edges on it
    filters the denoised full-size guide over time, as the GPU's Temporal pass does; None = one frame
    alone (a still image)."""
    h, w = frame_rgb.shape[:2]
    mask_u8 = cv2.convertScaleAbs(np.asarray(mask, dtype=np.float32), alpha=255.0)  # the worker's R8 mask
    # "auto" is on here: ~2 ms more at 1280x720 on the CPU, against ~20 ms for the full-size step itself
    denoise = settings.edge_denoise != "off"
    # 'spatial': the denoised guide alone; a still image (no temporal state) has nothing to average
    over_time = denoise and settings.edge_denoise != "spatial" and temporal is not None
    refined = fast_guided.refine_packed(mask_u8, frame_rgb, settings.erode, settings.feather,
                                        settings.feather_mode == "guided", (w, h), linear=False, noise=over_time)
    guide_full = None
    if over_time and refined.ramp > 0:  # a blur feather (ramp 0) does not read the guide at all
        guide_full = temporal.update(fast_guided.full_size_guide(frame_rgb, False, True), refined.guide_noise)
    return fast_guided.apply_packed(refined, frame_rgb, denoise=denoise, guide_full=guide_full)


# --- compositing -----------------------------------------------------------------------------------

def _check_frame_alpha(frame_rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    if not isinstance(frame_rgb, np.ndarray) or frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 \
            or frame_rgb.shape[2] != 3:
        raise ImageError(f"frame must be RGB uint8 (H x W x 3), got {getattr(frame_rgb, 'shape', None)}")
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.shape != frame_rgb.shape[:2]:
        raise ImageError(f"alpha size {alpha.shape} does not match the frame size {frame_rgb.shape[:2]}")
    return np.clip(alpha, 0.0, 1.0)


def _solid(size_hw: tuple[int, int], color_rgb: tuple[int, int, int]) -> np.ndarray:
    """An HxWx3 uint8 image of one colour (three memsets and a merge: 5x faster than numpy's fill)."""
    return cv2.merge([np.full(size_hw, int(c), dtype=np.uint8) for c in color_rgb])


def _blend(frame_rgb: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """round(alpha * frame + (1 - alpha) * background), uint8; alpha 0 gives the background exactly.

    cv2.blendLinear does this per pixel in one vectorised pass (numpy's HxWx1 broadcasting is ~5x
    slower on a 1280x720 frame).
    """
    if background.dtype != np.uint8:
        background = cv2.convertScaleAbs(background)  # rounds and saturates; values are never negative
    return cv2.blendLinear(frame_rgb, background, alpha, 1.0 - alpha)


def blur_background(frame_rgb: np.ndarray, alpha: np.ndarray, strength: float) -> np.ndarray:
    """Blurred background that the person does not bleed into (normalised convolution).

      w   = 1 - alpha                       (how much each pixel is background)
      bg  = (G * (frame * w) + e * frame) / (G * w + e),  e = 1e-3
    where G is a gaussian of sigma = strength / 2. Dividing by the blurred weight renormalises each
    pixel over the background pixels only, so a bright person does not light up the background around
    them; e keeps the division finite deep inside the person (where bg is hidden anyway). For speed
    the convolution runs at 1/f of the size, f = clip(floor(sigma / 3), 1, 4), then is upsampled
    bilinearly (a wide gaussian has no detail a smaller copy would lose). float32 HxWx3 result.
    """
    frame = frame_rgb.astype(np.float32)
    if strength <= 0:
        return frame
    sigma = strength / 2.0
    h, w = alpha.shape
    factor = int(min(max(sigma // 3, 1), 4))
    weight = 1.0 - alpha
    premultiplied = cv2.multiply(frame, cv2.merge([weight, weight, weight]))
    if factor > 1:
        small = (max(1, round(w / factor)), max(1, round(h / factor)))
        premultiplied = cv2.resize(premultiplied, small, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    premultiplied = cv2.GaussianBlur(premultiplied, (0, 0), sigma / factor, borderType=cv2.BORDER_REFLECT)
    weight = cv2.GaussianBlur(weight, (0, 0), sigma / factor, borderType=cv2.BORDER_REFLECT)
    if factor > 1:
        premultiplied = cv2.resize(premultiplied, (w, h), interpolation=cv2.INTER_LINEAR)
        weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
    e = 1e-3
    weight += e
    return cv2.divide(cv2.scaleAdd(frame, e, premultiplied), cv2.merge([weight, weight, weight]))


def composite(frame_rgb: np.ndarray, alpha: np.ndarray, settings: MatteSettings,
              background_image: np.ndarray | None = None) -> np.ndarray:
    """Put the person (alpha) over the background chosen in settings.background.

    'transparent': RGBA, straight (un-premultiplied) colour, A = round(alpha * 255).
    'color':       out = round(C + alpha * (frame - C)), C = settings.color_rgb (exactly C where alpha = 0).
    'blur':        the same blend over blur_background(frame, alpha, settings.blur_strength).
    'image':       the same blend over fit_background(background_image, frame size, settings.image_fit,
                   settings.color_rgb); raises ImageError when no image is given.
    """
    alpha = _check_frame_alpha(frame_rgb, alpha)
    mode = settings.background
    if mode == "transparent":
        a8 = cv2.convertScaleAbs(alpha, alpha=255.0)  # rounds to nearest; alpha is already in [0, 1]
        return cv2.merge([*cv2.split(frame_rgb), a8])
    if mode == "color":
        background = _solid(frame_rgb.shape[:2], settings.color_rgb)
    elif mode == "blur":
        background = blur_background(frame_rgb, alpha, settings.blur_strength)
    elif mode == "image":
        if background_image is None:
            raise ImageError("background 'image' needs a background image: choose an image file "
                             "(background_image) or another background")
        h, w = frame_rgb.shape[:2]
        background = _fitted_background(background_image, (w, h), settings.image_fit, settings.color_rgb)
    else:
        raise SettingsError(f"unknown background '{mode}'", field="background")
    return _blend(frame_rgb, background, alpha)


# The last fitted background: a video composites every frame over the same image, and resizing a
# 1920x1080 image costs more than the blend itself. Keyed on the array object, so an image must not be
# changed in place between calls (load_image always returns a new array).
_last_fit: tuple | None = None


def _fitted_background(image, size_wh, fit, fill_color) -> np.ndarray:
    global _last_fit
    key = (tuple(size_wh), fit, tuple(fill_color))
    cached = _last_fit
    if cached is not None and cached[0] is image and cached[1] == key:
        return cached[2]
    fitted = fit_background(image, size_wh, fit, fill_color)
    _last_fit = (image, key, fitted)
    return fitted


def fit_background(image: np.ndarray, size_wh: tuple[int, int], fit: str,
                   fill_color: tuple[int, int, int]) -> np.ndarray:
    """Resize a background image to (width, height).

    'fill': scale by max(W/w, H/h) so it covers the frame, then crop the centre.
    'fit':  scale by min(W/w, H/h) so all of it shows, centred on fill_color (letterbox/pillarbox).
    A grey image is made RGB; an RGBA image is flattened onto fill_color first.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0 \
            or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"background image must be an RGB uint8 array, got {getattr(image, 'shape', None)}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = flatten(image, fill_color)
    out_w, out_h = int(size_wh[0]), int(size_wh[1])
    ih, iw = image.shape[:2]
    if fit == "fill":
        scale = max(out_w / iw, out_h / ih)
    elif fit == "fit":
        scale = min(out_w / iw, out_h / ih)
    else:
        raise SettingsError(f"image fit must be 'fill' or 'fit', got {fit!r}", field="image_fit")
    new_w = min(out_w, round(iw * scale)) if fit == "fit" else max(out_w, round(iw * scale))
    new_h = min(out_h, round(ih * scale)) if fit == "fit" else max(out_h, round(ih * scale))
    new_w, new_h = max(1, new_w), max(1, new_h)
    # Area averaging only pays when shrinking by more than 2x; above that bilinear does not alias.
    interp = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    resized = image if (new_w, new_h) == (iw, ih) else cv2.resize(image, (new_w, new_h), interpolation=interp)
    if fit == "fill":
        x0, y0 = (new_w - out_w) // 2, (new_h - out_h) // 2
        return np.ascontiguousarray(resized[y0:y0 + out_h, x0:x0 + out_w])
    canvas = _solid((out_h, out_w), fill_color)
    x0, y0 = (out_w - new_w) // 2, (out_h - new_h) // 2
    canvas[y0:y0 + new_h, x0:x0 + new_w] = resized
    return canvas


def flatten(rgba: np.ndarray, color_rgb: tuple[int, int, int]) -> np.ndarray:
    """RGBA (straight colour) -> RGB over a solid colour; RGB input is returned as it is."""
    if rgba.ndim == 3 and rgba.shape[2] == 3:
        return rgba
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ImageError(f"expected an RGBA image (H x W x 4), got shape {rgba.shape}")
    alpha = rgba[:, :, 3].astype(np.float32) * np.float32(1 / 255)
    background = _solid(rgba.shape[:2], color_rgb)
    return _blend(cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB), background, alpha)


# --- image files -----------------------------------------------------------------------------------

_SIGNATURES = (  # what the first bytes of each supported format look like
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"II+\x00", "TIFF"), (b"MM\x00+", "TIFF"),
)


def _sniff(data: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _truncation(kind: str, data: bytes) -> str | None:
    """Why a PNG/JPEG is incomplete, or None. Depending on its build and version, OpenCV either refuses
    a cut file without saying why or decodes it silently with a grey bottom half; this check does not."""
    if kind == "PNG" and b"IEND" not in data[-4096:]:
        return "the file is truncated (PNG has no end chunk)"
    if kind == "JPEG" and not _jpeg_reaches_its_end(data):
        return "the file is truncated (JPEG has no end marker)"
    return None


def _jpeg_reaches_its_end(data: bytes) -> bool:
    """Whether the JPEG's own marker segments and scans lead to its end marker (FFD9). Walked from the start
    rather than searched from the end: bytes after the image (a phone's motion photo appends a video) may
    hold FFDA or FFD9 themselves, and an EXIF thumbnail's FFD9 lies inside a segment that is skipped whole.
    In a scan, the entropy-coded data escapes 0xFF as FF00 and has restart markers FFD0-FFD7; any other
    marker ends it. A structure it cannot follow counts as complete: OpenCV judges that file itself."""
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return True
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            i += 2
            continue
        if i + 3 >= n:
            return False
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if marker != 0xDA:
            continue
        while True:  # the scan's entropy-coded data, up to the next real marker
            j = data.find(b"\xff", i)
            if j < 0 or j + 1 >= n:
                return False
            following = data[j + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                i = j + 2
                continue
            i = j
            break
    return False


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own [ERROR] log lines while decoding: our one-line ImageError says it better."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        yield
        return
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(previous)


def _fail(path, reason: str) -> ImageError:
    return ImageError(f"cannot read image: {path}: {reason}")


def load_image(path) -> np.ndarray:
    """Read an image file as uint8 RGB (grey and RGBA files become RGB; EXIF rotation applied).

    Raises ImageError("cannot read image: <path>: <reason>") for a missing, empty, truncated, non-image
    or unsupported file; cv2.imread alone would just return None.
    """
    p, data, kind = _image_file_bytes(path)
    return cv2.cvtColor(_decode(p, data, kind, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_background_image(path) -> np.ndarray:
    """Read a background image file: as load_image, but a file with an alpha channel comes back RGBA
    (straight), so fit_background flattens it onto the background colour; IMREAD_COLOR alone would show
    the colour hidden under its transparent pixels. Same ImageError messages as load_image.

    The colour is load_image's (EXIF rotation applied, grey and 16-bit files made 8-bit RGB); the alpha
    comes from a second, unchanged decode, which OpenCV does not rotate: it is turned the way the colour
    was (_orient_like).
    """
    p, data, kind = _image_file_bytes(path)
    bgr = _decode(p, data, kind, cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if kind == "JPEG":  # no alpha in a JPEG: spare the second decode
        return rgb
    raw = _decode(p, data, kind, cv2.IMREAD_UNCHANGED)
    if raw.ndim != 3 or raw.shape[2] != 4 or raw.dtype not in (np.uint8, np.uint16):
        return rgb
    alpha = _orient_like(_to_8_bit(raw[:, :, 3]), _to_8_bit(raw[:, :, :3]), bgr)
    return rgb if alpha is None else np.dstack([rgb, alpha])


def _image_file_bytes(path) -> tuple[Path, bytes, str]:
    """The path, bytes and format (PNG, JPEG, ...) of a readable, complete image file, or ImageError."""
    if path is None or str(path) == "":
        raise ImageError("cannot read image: no file given")
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise _fail(p, f"unsupported format '{ext or p.name}' (use {', '.join(e[1:] for e in SUPPORTED_EXTENSIONS)})")
    if not p.exists():
        raise _fail(p, "file not found")
    if p.is_dir():
        raise _fail(p, "it is a folder, not a file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise _fail(p, exc.strerror or str(exc)) from None
    if not data:
        raise _fail(p, "the file is empty")
    kind = _sniff(data)
    if kind is None:
        raise _fail(p, "not an image file (its content is not PNG, JPEG, BMP, WEBP or TIFF)")
    reason = _truncation(kind, data)
    if reason:
        raise _fail(p, reason)
    return p, data, kind


def _decode(p: Path, data: bytes, kind: str, flags: int) -> np.ndarray:
    try:
        with _quiet_opencv():
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:
        raise _fail(p, f"the decoder failed ({str(exc).strip().splitlines()[-1]})") from None
    if image is None or image.size == 0:
        raise _fail(p, f"the {kind} data is corrupt or truncated")
    return image


def _to_8_bit(channels: np.ndarray) -> np.ndarray:
    """uint8 as it is; uint16 to uint8 the way IMREAD_COLOR does it (the high byte)."""
    return channels if channels.dtype == np.uint8 else (channels >> 8).astype(np.uint8)


# The eight ways EXIF orientation can turn a picture (numpy views), the unturned one first: a picture that
# looks the same turned several ways (one flat colour) is taken as not turned.
_TURNS = (
    lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1, ::-1], lambda a: a[::-1],
    lambda a: a.swapaxes(0, 1), lambda a: np.rot90(a, -1), lambda a: a[::-1, ::-1].swapaxes(0, 1),
    lambda a: np.rot90(a, 1),
)


def _orient_like(alpha: np.ndarray, unturned_bgr: np.ndarray, turned_bgr: np.ndarray) -> np.ndarray | None:
    """alpha turned the way IMREAD_COLOR turned the colour (its EXIF orientation), found by comparing the
    two decodes' colours; None when no turn matches (the image is then used without its alpha)."""
    for turn in _TURNS:
        candidate = turn(unturned_bgr)
        if candidate.shape == turned_bgr.shape and np.array_equal(candidate, turned_bgr):
            return np.ascontiguousarray(turn(alpha))
    return None


def output_format(path: Path, fmt: str | None) -> str:
    """'png' or 'jpg' from an explicit format or the file name; ImageError otherwise."""
    if fmt is None:
        ext = path.suffix.lower()
        fmt = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}.get(ext)
        if fmt is None:
            raise ImageError(f"cannot write image: {path}: unsupported output format '{ext or path.name}' "
                             f"(use .png or .jpg)")
    fmt = fmt.lower()
    if fmt == "jpeg":
        fmt = "jpg"
    if fmt not in ("png", "jpg"):
        raise ImageError(f"cannot write image: {path}: unsupported output format '{fmt}' (use png or jpg)")
    named = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}.get(path.suffix.lower())
    if named is not None and named != fmt:  # JPEG bytes in a .png file would mislead every viewer
        raise ImageError(f"cannot write image: {path}: the name says {named.upper()} but the format asked "
                         f"for is {fmt.upper()}")
    return fmt


def same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _identity(path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file at `path` (symlinks followed), None when there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return None
    return st.st_dev, st.st_ino


def _resolved(path) -> Path | None:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # RuntimeError: a symlink loop (Python < 3.13)
        return None


class ProtectedFiles:
    """Files that an output must never replace (a command's inputs), identified once up front.

    Checking a target against each input with same_path costs a few stat calls per input, so a batch that
    checked every output against every input grew with the square of the folder's size. Here each input's
    resolved path and (st_dev, st_ino) identity are read once, and `target in protected` costs one stat of
    the target: a hard link or another spelling of an input (a symlink, "x/../input.png") is the same file.
    """

    def __init__(self, paths: Iterable):
        self._paths: set[Path] = set()
        self._identities: set[tuple[int, int]] = set()
        for path in paths:
            resolved = _resolved(path)
            if resolved is not None:
                self._paths.add(resolved)
            identity = _identity(path)
            if identity is not None:
                self._identities.add(identity)

    def __contains__(self, target) -> bool:
        identity = _identity(target)
        if identity is None:
            # Nothing answers to this spelling yet, but "new/../input.png" reaches the input once save_image
            # has created the folder "new": the resolved path decides (and, when it exists, its identity).
            resolved = _resolved(target)
            if resolved is None:
                return False
            if resolved in self._paths:
                return True
            identity = _identity(resolved)
        return identity in self._identities


def save_image(path, image: np.ndarray, fmt: str | None = None,
               background_color: tuple[int, int, int] = _DEFAULT_COLOR, *,
               protect: Collection | ProtectedFiles = ()) -> Path:
    """Write an image atomically and return its path.

    image: uint8 HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA, straight colour). fmt 'png' | 'jpg' | None
    (from the extension). PNG keeps alpha; JPEG flattens RGBA onto background_color. Parent folders are
    created; the data goes to a temporary file in the same folder that is then renamed over the target,
    so a crash never leaves half a file. Refuses (ImageError) to write over any path in `protect`: a list of
    paths, or a ProtectedFiles built once when many files are written against the same inputs.
    """
    p = Path(path)
    fmt = output_format(p, fmt)
    protected = protect if isinstance(protect, ProtectedFiles) else ProtectedFiles(protect)
    if p in protected:
        raise ImageError(f"refusing to overwrite the input image: {p}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0 or \
            not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ImageError(f"cannot write image: {p}: expected uint8 grey, RGB or RGBA pixels, got "
                         f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
    if fmt == "jpg" and image.ndim == 3 and image.shape[2] == 4:
        image = flatten(image, background_color)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if fmt == "jpg" else []
    ok, encoded = cv2.imencode("." + fmt, image, params)
    if not ok:
        raise ImageError(f"cannot write image: {p}: the {fmt.upper()} encoder failed")
    tmp_name = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        # os.open with mode 0o666 lets the umask decide the permissions, as for any new file
        # (tempfile.mkstemp would leave the image readable by its owner only).
        tmp_name = p.parent / f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(encoded.tobytes())
        os.replace(tmp_name, p)
        tmp_name = None
    except OSError as exc:
        raise ImageError(f"cannot write image: {p}: {exc.strerror or exc}") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return p
