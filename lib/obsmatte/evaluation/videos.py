"""Frame sequences for temporal stability: the real videos in ../shared/eval/video, and one still portrait
repeated with fresh small noise on every frame (a perfect matter would show no change at all).

There is no true alpha for the videos, so flicker is measured where the answer is not in doubt and the
picture does not change: the background (time-median of the model's raw probability < 0.05) and the
interior (> 0.95), in both cases only where the video itself stays still (metrics.still_picture), so a
moving arm's legitimate alpha change is not counted as flicker. The regions come from the raw model on the clean frames,
so every method is scored on the same pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import paths
from ..errors import ImageError
from . import metrics
from .scenes import WORK_SIDE, _resize_long_side, darken

STILL_REPEATS = 30
STILL_NOISE_SIGMA = 2.0  # grey levels: a clean webcam's frame-to-frame noise


@dataclass
class Sequence:
    name: str
    frames: list[np.ndarray]  # RGB uint8, long side WORK_SIDE
    clean: list[np.ndarray] | None = None  # low light: the frames before darkening (for the regions)


def video_dir() -> Path:
    return paths.SHARED_DIR / "eval" / "video"


def read_video(path: Path, max_frames: int, stride: int = 1) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageError(f"cannot open video {path}")
    frames, i = [], 0
    try:
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % stride == 0:
                frames.append(_resize_long_side(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), WORK_SIDE))
            i += 1
    finally:
        cap.release()
    if len(frames) < 2:
        raise ImageError(f"video {path} gave fewer than 2 frames")
    return frames


def load_videos(max_frames: int) -> list[Sequence]:
    files = sorted(video_dir().glob("*.mp4"))
    if not files:
        raise ImageError(f"no videos found in {video_dir()} (the shared evaluation data is missing)")
    return [Sequence(f.stem, read_video(f, max_frames)) for f in files]


def still_sequence(repeats: int = STILL_REPEATS, seed: int = 7) -> Sequence:
    """../shared/eval/stills/portrait.jpg repeated with independent Gaussian noise per frame."""
    f = paths.SHARED_DIR / "eval" / "stills" / "portrait.jpg"
    bgr = cv2.imread(str(f))
    if bgr is None:
        raise ImageError(f"cannot read {f}")
    base = _resize_long_side(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), WORK_SIDE).astype(np.float32)
    rng = np.random.default_rng(seed)
    frames = [np.clip(np.rint(base + rng.normal(0, STILL_NOISE_SIGMA, base.shape)), 0, 255).astype(np.uint8)
              for _ in range(repeats)]
    return Sequence("still_noise", frames)


def darkened(seq: Sequence, seed: int = 11) -> Sequence:
    """The same video in a dim room: fresh sensor noise on every frame, as a real webcam gives."""
    return Sequence(seq.name + "_dark", [darken(f, seed + i) for i, f in enumerate(seq.frames)],
                    clean=seq.frames)


def reference_regions(seq: Sequence, matter) -> tuple[np.ndarray, np.ndarray]:
    """(background, interior) boolean masks at frame size from the raw model on the clean frames."""
    frames = seq.clean if seq.clean is not None else seq.frames
    h, w = frames[0].shape[:2]
    probs = np.stack([matter.predict(f) for f in frames])
    med = cv2.resize(np.median(probs, axis=0), (w, h), interpolation=cv2.INTER_LINEAR)
    still = metrics.still_picture(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]))
    bg, fg = metrics.temporal_regions(med[None], still)
    # Stay clear of the edge: shrink both regions a little so upsampling blur does not leak into them.
    k = np.ones((5, 5), np.uint8)
    return cv2.erode(bg.astype(np.uint8), k).astype(bool), cv2.erode(fg.astype(np.uint8), k).astype(bool)
