"""The command-line verbs, one function each (argparse wiring is in cli.py)."""
from __future__ import annotations

import os
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


def cmd_batch(args) -> int:
    settings = settings_from_args(args)
    in_dir, out_dir = Path(args.input_dir), Path(args.output_dir)
    if not in_dir.is_dir():
        raise ImageError(f"input folder not found or not a folder: {in_dir}")
    try:
        files = sorted(p for p in in_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as e:
        raise ImageError(f"cannot read folder {in_dir}: {e.strerror or e}") from None
    inputs = set(p.resolve() for p in files)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageError(f"cannot create output folder {out_dir}: {e.strerror or e}") from None
    # Outputs go beside inputs only with a suffix, so an input is never replaced.
    suffix = "_matte" if compose.same_path(in_dir, out_dir) else ""
    bg = _background_image(settings)
    pipeline = MaskPipeline(settings)
    ext = ".png" if args.format == "png" else ".jpg"
    taken: set[Path] = set(inputs)
    written, failed, n_ok = [], [], 0
    progress = Progress(len(files), "batch")
    for f in files:
        try:
            if f.suffix.lower() not in IMAGE_EXTS:
                raise ImageError(f"cannot read image: {f}: unsupported format '{f.suffix or 'no extension'}'")
            rgb = compose.load_image(f)
            alpha, out = _matte_one(rgb, settings, pipeline, bg)
            target = _unique_path((out_dir / (f.stem + suffix + ext)).resolve(), taken)
            written.append(compose.save_image(target, out, args.format, background_color=settings.color_rgb,
                                              protect=inputs))
            n_ok += 1
            if args.save_alpha:
                apath = _unique_path((out_dir / (f.stem + suffix + "_alpha.png")).resolve(), taken)
                written.append(_save_alpha(alpha, apath, inputs))
            progress.step(f.name)
        except Exception as e:  # MattingError's clear message; anything else still skips only this file
            why = str(e) if isinstance(e, MattingError) else f"{f}: {e.__class__.__name__}: {e}"
            failed.append((f, why))
            progress.step(f"skipped {f.name}")
            print(f"obs-matting: skipped: {why}", file=sys.stderr)
    if args.zip and written:
        zpath = _unique_path(out_dir / f"obs-matting-{time.strftime('%Y%m%d-%H%M%S')}.zip", taken)
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
            for w in written:
                z.write(w, w.name)
        print(f"wrote {zpath}")
    print(f"batch done: {n_ok} written, {len(failed)} skipped, output in {out_dir}")
    for f, why in failed:
        print(f"  skipped {f.name}: {why}")
    return 0 if not failed else (3 if n_ok == 0 else 0)


def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise ImageError(f"video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    ok, _ = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        raise ImageError(f"cannot read video: {path}: not a video OpenCV can decode")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap


class _FrameSink:
    """Writes frames to a video file, or PNG files (alpha kept) into a folder."""

    def __init__(self, out: Path, fps: float, size_wh: tuple[int, int], settings: MatteSettings):
        self.out, self.settings, self.count = out, settings, 0
        self.writer = None
        if out.suffix.lower() in VIDEO_EXTS:
            out.parent.mkdir(parents=True, exist_ok=True)
            self.writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*VIDEO_EXTS[out.suffix.lower()]),
                                          fps, size_wh)
            if not self.writer.isOpened():
                raise ImageError(f"cannot write video {out} (codec not available)")
        elif out.suffix:
            raise ImageError(f"unsupported video output '{out.suffix}': use .mp4, .avi, .mkv, .mov or a folder")
        else:
            out.mkdir(parents=True, exist_ok=True)

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


def cmd_screen(args) -> int:
    try:
        import mss
    except ImportError:
        raise MattingError("the 'mss' package is needed for screen capture: pip install mss") from None
    settings = settings_from_args(args)
    bg = _background_image(settings)
    pipeline = MaskPipeline(settings)
    try:
        grabber = (getattr(mss, "MSS", None) or mss.mss)()  # MSS from mss 10 on; mss() before
    except Exception as e:  # mss raises its own ScreenShotError without a display
        raise MattingError(f"cannot capture the screen ({e}); is there a display (DISPLAY)?") from None
    region = _parse_region(args.region, grabber.monitors[1])
    sink = _FrameSink(Path(args.out), args.fps, (region["width"], region["height"]), settings) if args.out else None
    start, frames = time.perf_counter(), 0
    try:
        while not args.seconds or time.perf_counter() - start < args.seconds:
            shot = np.asarray(grabber.grab(region))  # BGRA
            rgb = cv2.cvtColor(shot, cv2.COLOR_BGRA2RGB)
            alpha = matte_image(rgb, settings, pipeline)
            out = compose.composite(rgb, alpha, settings, bg)
            frames += 1
            if sink is not None:
                sink.write(out)
                continue
            show = compose.flatten(out, (128, 128, 128)) if out.shape[2] == 4 else out
            try:
                cv2.imshow("obs-matting (q to quit)", cv2.cvtColor(show, cv2.COLOR_RGB2BGR))
            except cv2.error:
                # the project depends on opencv-python-headless (the GUI build's bundled Qt clashes
                # with OBS), which has no windows
                raise MattingError("this OpenCV build cannot open windows: use --out FILE, or install "
                                   "opencv-python in a separate environment for a live preview") from None
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    finally:
        if sink is not None:
            sink.close()
        else:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass  # no GUI support: no window was opened
        grabber.close()
    elapsed = time.perf_counter() - start
    print(f"screen: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps), "
          f"region {region['width']}x{region['height']}" + (f", wrote {args.out}" if sink else ""))
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
