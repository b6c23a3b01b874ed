"""The command-line verbs, one function each (argparse wiring is in cli.py)."""
from __future__ import annotations

import os
import re
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

from . import compose, paths
from .cli import settings_from_args
from .errors import ImageError, MattingError, ModelError
from .pipeline import MaskPipeline, matte_image
from .settings import MatteSettings

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}
EXIT_NOTHING_WRITTEN = 3  # batch: every file was skipped
EXIT_SOME_SKIPPED = 4  # batch: some files written, some skipped


def _models(pipeline: MaskPipeline) -> str:
    """The model id(s) that ran, and why the GPU model did not when one was asked for."""
    note = pipeline.gpu_note
    return pipeline.active_model + (f" ({note})" if note and pipeline.active_model != pipeline.settings.gpu_model else "")

def _background_image(settings: MatteSettings):
    if settings.background != "image":
        return None
    if not settings.background_image:
        raise ImageError("background 'image' needs --background-image FILE")
    return compose.load_background_image(settings.background_image)


def _matte_one(rgb: np.ndarray, settings: MatteSettings, pipeline: MaskPipeline, bg):
    pipeline.reset()  # still images are independent: no temporal carry-over between files
    alpha = matte_image(rgb, settings, pipeline)
    return alpha, compose.composite(rgb, alpha, settings, bg)


def _save_alpha(alpha: np.ndarray, path: Path, protect) -> Path:
    # the same quantisation as the transparent composite, so the two files agree bit for bit
    return compose.save_image(path, cv2.convertScaleAbs(alpha, alpha=255.0), "png", protect=protect)


def cmd_image(args) -> int:
    settings = settings_from_args(args)
    src, dst = Path(args.input), Path(args.output)
    fmt = compose.output_format(dst, args.format)
    if compose.same_path(src, dst):
        raise ImageError(f"refusing to overwrite the input image: {dst}")
    rgb = compose.load_image(src)
    bg = _background_image(settings)
    pipeline = MaskPipeline(settings)
    alpha, out = _matte_one(rgb, settings, pipeline, bg)
    written = compose.save_image(dst, out, fmt, background_color=settings.color_rgb, protect=[src])
    kind = "RGBA" if out.shape[2] == 4 and fmt == "png" else "RGB"  # JPEG: flattened onto the colour
    print(f"wrote {written} ({out.shape[1]}x{out.shape[0]}, {kind}, "
          f"model {_models(pipeline)} on {pipeline.device_info.describe()})")
    if args.save_alpha:
        apath = _save_alpha(alpha, dst.with_name(dst.stem + "_alpha.png"), [src])
        print(f"wrote {apath}")
    return 0


class Progress:
    """A one-line progress bar on stderr (no dependency; quiet when not a terminal except at the end)."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.done = max(total, 1), label, 0
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def step(self, note: str = "") -> None:
        self.done += 1
        if self.tty or self.done == self.total:
            frac = self.done / self.total
            bar = "#" * int(frac * 30)
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            end = "\n" if self.done == self.total else "\r"
            print(f"{self.label} [{bar:<30}] {self.done}/{self.total} {rate:.1f}/s {note[:40]:<40}",
                  end=end, file=sys.stderr, flush=True)


def _unique_path(path: Path, taken: set[Path]) -> Path:
    """`path`, or path with -2, -3... appended, so that nothing existing or already written is overwritten."""
    candidate, n = path, 1
    while candidate in taken or candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    taken.add(candidate)
    return candidate


def _unique_stem(folder: Path, stem: str, endings: list[str], taken: set[Path]) -> str:
    """`stem`, or stem-2, stem-3...: the first for which no file stem + ending (one per file an input makes)
    exists or was claimed earlier in the run. One stem for an image and its alpha, so that a-2.png's matte is
    a-2_alpha.png, not an a_alpha.png that looks like a.png's."""
    candidate, n = stem, 1
    while any(folder / (candidate + e) in taken or (folder / (candidate + e)).exists() for e in endings):
        n += 1
        candidate = f"{stem}-{n}"
    taken.update(folder / (candidate + e) for e in endings)
    return candidate


# what a batch into the input folder writes: <name>_matte.png, <name>_matte_alpha.png, with -2, -3... on a clash
_EARLIER_OUTPUT = re.compile(r"_(matte|alpha)(-\d+)?$")


def _list_folder(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ImageError(f"input folder not found or not a folder: {folder}")
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as e:
        raise ImageError(f"cannot read folder {folder}: {e.strerror or e}") from None


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageError(f"cannot create output folder {folder}: {e.strerror or e}") from None
    return folder.resolve()


class _Batch:
    """One `batch` run: the files it wrote, skipped and renamed, and how each input's outputs are named."""

    def __init__(self, args, settings: MatteSettings, files: list[Path], out_dir: Path, in_place: bool):
        self.settings = settings
        self.bg = _background_image(self.settings)
        self.pipeline = MaskPipeline(self.settings)
        self.fmt, self.save_alpha, self.out_dir, self.in_place = args.format, args.save_alpha, out_dir, in_place
        # Outputs go beside inputs only with a suffix, so an input is never replaced.
        self.suffix = "_matte" if in_place else ""
        self.endings = [".png" if self.fmt == "png" else ".jpg"] + (["_alpha.png"] if self.save_alpha else [])
        self.protected = compose.ProtectedFiles(files)  # identified once: a check per output costs one stat
        self.taken: set[Path] = {f.resolve() for f in files}
        self.written: list[Path] = []
        self.skipped: list[tuple[Path, str]] = []
        self.renamed: list[tuple[Path, list[str]]] = []
        self.n_ok = 0

    def matte(self, f: Path) -> None:
        """Matte one input and write its image (and alpha); raises for a file that cannot be."""
        if self.in_place and _EARLIER_OUTPUT.search(f.stem):
            raise ImageError(f"{f}: its name says it is the output of an earlier batch into this folder "
                             "(..._matte or ..._alpha): not matted again")
        if f.suffix.lower() not in IMAGE_EXTS:
            raise ImageError(f"cannot read image: {f}: unsupported format '{f.suffix or 'no extension'}'")
        alpha, out = _matte_one(compose.load_image(f), self.settings, self.pipeline, self.bg)
        wanted = f.stem + self.suffix
        stem = _unique_stem(self.out_dir, wanted, self.endings, self.taken)
        names = [stem + e for e in self.endings]
        self.written.append(compose.save_image(self.out_dir / names[0], out, self.fmt,
                                               background_color=self.settings.color_rgb, protect=self.protected))
        self.n_ok += 1
        if self.save_alpha:
            self.written.append(_save_alpha(alpha, self.out_dir / names[1], self.protected))
        if stem != wanted:
            self.renamed.append((f, names))

    def skip(self, f: Path, e: Exception) -> None:
        # MattingError's clear message; anything else (a bug, an OpenCV assertion) still skips only this file
        why = str(e) if isinstance(e, MattingError) else f"{f}: {e.__class__.__name__}: {e}"
        self.skipped.append((f, why))
        print(f"obs-matting: skipped: {why}", file=sys.stderr)

    def write_zip(self) -> None:
        zpath = _unique_path(self.out_dir / f"obs-matting-{time.strftime('%Y%m%d-%H%M%S')}.zip", self.taken)
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
            for w in self.written:
                z.write(w, w.name)
        print(f"wrote {zpath}")

    def report(self, out_dir: Path) -> None:
        print(f"batch done: {self.n_ok} written, {len(self.skipped)} skipped, output in {out_dir}")
        if self.renamed:
            print("renamed, as the plain name was taken (by another input or an existing file):")
        for f, names in self.renamed:
            print(f"  {f.name} -> {', '.join(names)}")
        for f, why in self.skipped:
            print(f"  skipped {f.name}: {why}")


def cmd_batch(args) -> int:
    settings = settings_from_args(args)
    in_dir, out_dir = Path(args.input_dir), Path(args.output_dir)
    files = _list_folder(in_dir)
    resolved_out = _make_folder(out_dir)
    batch = _Batch(args, settings, files, resolved_out, in_place=compose.same_path(in_dir, out_dir))
    progress = Progress(len(files), "batch")
    for f in files:
        try:
            batch.matte(f)
            progress.step(f.name)
        except Exception as e:
            batch.skip(f, e)
            progress.step(f"skipped {f.name}")
    if args.zip and batch.written:
        batch.write_zip()
    batch.report(out_dir)
    if not batch.skipped:
        return 0
    # non-zero whenever a file was left out, so a script notices; README's "Command line" lists the codes
    return EXIT_NOTHING_WRITTEN if batch.n_ok == 0 else EXIT_SOME_SKIPPED


def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise ImageError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    ok, _ = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        raise ImageError(f"cannot read video: {path}: not a video OpenCV can decode")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap


def _prepare_frame_folder(folder: Path) -> None:
    """Create the folder for a PNG sequence. One that already holds frames is refused: a shorter run would
    overwrite only the first of them and leave the earlier run's later frames in the same sequence."""
    if folder.exists() and not folder.is_dir():
        raise ImageError(f"cannot write frames into {folder}: it is a file, not a folder (name a new folder, or a "
                         f"file ending in {', '.join(VIDEO_EXTS)})")
    if folder.is_dir() and next(folder.glob("frame_*.png"), None) is not None:
        raise ImageError(f"{folder} already holds frame_*.png files from an earlier run: delete them or name "
                         "another folder")
    _make_folder(folder)


class _FrameSink:
    """Writes frames to a video file, or PNG files (alpha kept) into a folder."""

    def __init__(self, out: Path, fps: float, size_wh: tuple[int, int], settings: MatteSettings):
        self.out, self.settings, self.count = out, settings, 0
        self.writer = None
        if out.suffix.lower() in VIDEO_EXTS:
            _make_folder(out.parent)
            self.writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*VIDEO_EXTS[out.suffix.lower()]),
                                          fps, size_wh)
            if not self.writer.isOpened():
                raise ImageError(f"cannot write video {out} (codec not available)")
        elif out.suffix:
            raise ImageError(f"unsupported video output '{out.suffix}': use .mp4, .avi, .mkv, .mov or a folder")
        else:
            _prepare_frame_folder(out)

    def write(self, image: np.ndarray) -> None:
        if self.writer is not None:
            if image.shape[2] == 4:
                image = compose.flatten(image, self.settings.color_rgb)
            self.writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        else:
            compose.save_image(self.out / f"frame_{self.count:06d}.png", image, "png")
        self.count += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            if self.count == 0:  # a video file with no frames would only look like a broken one
                self.out.unlink(missing_ok=True)


def cmd_video(args) -> int:
    settings = settings_from_args(args)
    src, dst = Path(args.input), Path(args.output)
    if compose.same_path(src, dst):
        raise ImageError(f"refusing to overwrite the input video: {dst}")
    cap = _open_video(src)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    bg = _background_image(settings)
    pipeline = MaskPipeline(settings)  # one pipeline for the whole clip: temporal state carries over
    sink = _FrameSink(dst, fps, (w, h), settings)
    progress = Progress(total, "video")
    def frames():
        read = 0
        while not args.max_frames or read < args.max_frames:
            ok, bgr = cap.read()
            if not ok:
                return
            read += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    try:
        # the next frame is read and prepared for the model while the model runs this one
        for rgb, mask in pipeline.stream(frames()):
            alpha = compose.finish_alpha(mask, rgb, settings, pipeline.guide_filter)
            sink.write(compose.composite(rgb, alpha, settings, bg))
            if total:
                progress.step()
    finally:
        sink.close()
        cap.release()
    if sink.count == 0:
        raise ImageError(f"no frames could be read from {src}")
    print(f"wrote {sink.count} frames to {dst} ({w}x{h} @ {fps:.2f} fps, model {_models(pipeline)})")
    if total and sink.count < total - max(1, total // 100):  # headers' counts are estimates: a frame or 1% off
        print(f"obs-matting: warning: {src} ended after {sink.count} of the {total} frames its header announces "
              "(a cut or damaged file?); the frames read are written", file=sys.stderr)
    return 0


def _parse_region(text: str | None, monitor: dict) -> dict:
    if not text:
        return {k: monitor[k] for k in ("left", "top", "width", "height")}
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise MattingError(f"--region must be X,Y,W,H in pixels, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise MattingError(f"--region needs a positive width and height, got {text!r}")
    return {"left": x, "top": y, "width": w, "height": h}


def _region_text(region: dict) -> str:
    return f"{region['left']},{region['top']},{region['width']},{region['height']}"


def _check_region_on_screen(region: dict, screen: dict) -> None:
    """Refuse a region that reaches outside the screen: mss cannot grab there (on X11 a protocol error, and the
    output file was left behind with no frames). `screen` is mss's monitors[0], the box around every monitor."""
    right, bottom = screen["left"] + screen["width"], screen["top"] + screen["height"]
    if (region["left"] < screen["left"] or region["top"] < screen["top"]
            or region["left"] + region["width"] > right or region["top"] + region["height"] > bottom):
        raise MattingError(f"--region {_region_text(region)} reaches outside the screen, which spans "
                           f"{screen['width']}x{screen['height']} from {screen['left']},{screen['top']} to "
                           f"{right},{bottom} (all monitors together)")


def _import_mss():
    try:
        import mss
    except ImportError:
        raise MattingError("the 'mss' package is needed for screen capture: pip install mss") from None
    return mss


def _open_grabber(mss):
    try:
        return (getattr(mss, "MSS", None) or mss.mss)()  # MSS from mss 10 on; mss() before
    except Exception as e:  # mss raises its own ScreenShotError without a display
        raise MattingError(f"cannot capture the screen ({e}); is there a display (DISPLAY)?") from None


def _grab_errors(mss) -> tuple[type[BaseException], ...]:
    """What a failed grab raises: mss's ScreenShotError, and the X11 backend's XProtoError where there is one
    (a ScreenShotError itself in mss 10). Looked up among the loaded modules, so no other platform loads it."""
    xproto = getattr(sys.modules.get("mss.linux.xcbhelpers"), "XProtoError", None)
    return (mss.ScreenShotError,) + ((xproto,) if isinstance(xproto, type) else ())


def _grab(grabber, region: dict, errors: tuple) -> np.ndarray:
    """The region's pixels as RGB; a MattingError when the screen refuses them (say, a monitor unplugged)."""
    try:
        shot = np.asarray(grabber.grab(region))  # BGRA
    except errors as e:
        reason = (str(e).strip().splitlines() or [e.__class__.__name__])[0]  # X11 adds lines of request details
        raise MattingError(f"cannot capture the screen region {_region_text(region)}: {reason}") from None
    return cv2.cvtColor(shot, cv2.COLOR_BGRA2RGB)


def _show(out: np.ndarray) -> bool:
    """Show a matted frame in a window; whether the user asked to quit (q or Esc)."""
    show = compose.flatten(out, (128, 128, 128)) if out.shape[2] == 4 else out
    try:
        cv2.imshow("obs-matting (q to quit)", cv2.cvtColor(show, cv2.COLOR_RGB2BGR))
    except cv2.error:
        # the project depends on opencv-python-headless (the GUI build's bundled Qt clashes
        # with OBS), which has no windows
        raise MattingError("this OpenCV build cannot open windows: use --out FILE, or install "
                           "opencv-python in a separate environment for a live preview") from None
    return cv2.waitKey(1) & 0xFF in (ord("q"), 27)


def _capture(args, grabber, region: dict, errors: tuple, settings: MatteSettings, bg) -> tuple[int, float]:
    """Grab, matte and write or show frames until --seconds is up or the user quits; the number of frames and
    the seconds they took."""
    pipeline = MaskPipeline(settings)
    sink = _FrameSink(Path(args.out), args.fps, (region["width"], region["height"]), settings) if args.out else None
    start, frames = time.perf_counter(), 0
    try:
        while not args.seconds or time.perf_counter() - start < args.seconds:
            rgb = _grab(grabber, region, errors)
            out = compose.composite(rgb, matte_image(rgb, settings, pipeline), settings, bg)
            frames += 1
            if sink is not None:
                sink.write(out)
            elif _show(out):
                break
    finally:
        if sink is not None:
            sink.close()
        else:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass  # no GUI support: no window was opened
    return frames, time.perf_counter() - start


def cmd_screen(args) -> int:
    mss = _import_mss()
    settings = settings_from_args(args)
    bg = _background_image(settings)
    grabber = _open_grabber(mss)
    try:
        region = _parse_region(args.region, grabber.monitors[1])
        _check_region_on_screen(region, grabber.monitors[0])  # before the model loads and the output opens
        frames, elapsed = _capture(args, grabber, region, _grab_errors(mss), settings, bg)
    finally:
        grabber.close()
    print(f"screen: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps), "
          f"region {region['width']}x{region['height']}" + (f", wrote {args.out}" if args.out else ""))
    return 0


def cmd_models(args) -> int:
    from .models import default_model_id, load_manifest
    default = default_model_id()
    print(f"model search folders: {', '.join(str(d) for d in paths.model_search_dirs())}\n")
    for spec in load_manifest().values():
        found = spec.find_file()
        mark = "*" if spec.id == default else " "
        where = f"installed: {found}" if found else (
            "not installed (the installer can download it)" if spec.download else "not installed")
        print(f"{mark} {spec.id:<28} {spec.name}")
        print(f"    license {spec.license}; {'ships with the project' if spec.shipped else 'not bundled'}; {where}")
        if spec.provenance:
            print(f"    source: {spec.provenance}")
        if spec.download:
            print(f"    download: {spec.download['url']} ({spec.download['size'] / 1e6:.1f} MB, "
                  f"sha256 {spec.download['sha256'][:16]}…)")
    print("\n* = default")
    return 0


def cmd_presets(args) -> int:
    from .presets import load_presets
    errors: list = []
    presets = load_presets(errors=errors)
    for p in presets.values():
        print(f"{p.id:<14} {p.name}: {p.description}")
        print(f"    file: {p.path}")
        print(f"    settings: {', '.join(f'{k}={v}' for k, v in p.values.items())}")
        if p.provenance:
            print(f"    provenance: {p.provenance}")
    print(f"\nuser presets folder: {paths.user_presets_dir()}")
    for e in errors:
        print(f"obs-matting: broken preset skipped: {e}", file=sys.stderr)
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench
    return run_bench(args)
