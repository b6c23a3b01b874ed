"""Measure methods on scenes: every figure of the quality table comes from here (eval and tune share it).

Stills: each image is a fresh start (state reset), scored against its exact truth.
Videos: each sequence runs with temporal state; flicker on the reference regions (see videos.py).
The low-light scene uses darkened videos (fresh noise per frame) and also scores every method on the
same composites in normal light, so the IoU lost to the dark is reported: on the one dark frame, and
live (iou_live), on the last of LIVE_FRAMES frames of the same dim scene with fresh sensor noise each, as
a webcam sees a person sitting still: what temporal methods (input denoising, smoothing) can do in video.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import metrics
from .methods import Method, Runner
from .scenes import Sample
from .videos import Sequence, darkened, reference_regions


@dataclass
class SceneScore:
    """Mean figures of one method on one scene."""
    mae: float
    edge: float
    iou: float
    ms: float
    n: int
    flicker: float = float("nan")  # videos: mean |a(t)-a(t-1)| on background + interior
    flicker_bg: float = float("nan")
    flicker_interior: float = float("nan")
    still_flicker: float = float("nan")  # a still portrait with fresh noise per frame
    recall_min: float = float("nan")  # multi-person: the worst-kept person over all images
    recall_mean: float = float("nan")
    persons_lost: int = 0  # persons with recall < 0.95
    iou_normal: float = float("nan")  # low light: IoU on the same images in normal light
    iou_live: float = float("nan")  # low light: IoU on the last of LIVE_FRAMES frames of each dark still
    video_skipped: float = float("nan")  # plugin code: fraction of video frames it kept the last mask for
    per_sample: list[dict] = field(default_factory=list)

    @property
    def iou_loss(self) -> float:
        return self.iou_normal - self.iou

    @property
    def iou_loss_live(self) -> float:
        return self.iou_normal - self.iou_live

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "per_sample"}
        d["iou_loss"] = self.iou_loss
        d["iou_loss_live"] = self.iou_loss_live
        return d


RECALL_TARGET = 0.95
LIVE_FRAMES = 16  # about half a second of a 30 fps webcam


def score_stills(runner: Runner, samples: list[Sample], keep_alphas: bool = False, live: bool = True
                 ) -> tuple[SceneScore, list[np.ndarray]]:
    rows, alphas, times = [], [], []
    for s in samples:
        runner.start()
        a = runner.frame(s.image)
        times.append(runner.last_ms)
        row = {"name": s.name, "mae": metrics.mae(a, s.alpha), "edge": metrics.edge_error(a, s.alpha),
               "iou": metrics.iou(a, s.alpha)}
        if len(s.persons) > 1:
            row["recalls"] = [metrics.person_recall(a, p) for p in s.persons]
        if s.normal_light is not None:
            runner.start()
            row["iou_normal"] = metrics.iou(runner.frame(s.normal_light), s.alpha)
            if live:
                runner.start()
                for frame in s.live_frames(LIVE_FRAMES):
                    live_alpha = runner.frame(frame)
                row["iou_live"] = metrics.iou(live_alpha, s.alpha)
        rows.append(row)
        if keep_alphas:
            alphas.append(a)
    score = SceneScore(mae=float(np.mean([r["mae"] for r in rows])),
                       edge=float(np.mean([r["edge"] for r in rows])),
                       iou=float(np.mean([r["iou"] for r in rows])),
                       ms=float(np.median(times)), n=len(rows), per_sample=rows)
    recalls = [x for r in rows for x in r.get("recalls", [])]
    if recalls:
        score.recall_min = float(min(recalls))
        score.recall_mean = float(np.mean(recalls))
        score.persons_lost = int(sum(x < RECALL_TARGET for x in recalls))
    if any("iou_normal" in r for r in rows):
        score.iou_normal = float(np.mean([r["iou_normal"] for r in rows if "iou_normal" in r]))
    if any("iou_live" in r for r in rows):
        score.iou_live = float(np.mean([r["iou_live"] for r in rows if "iou_live" in r]))
    return score, alphas


@dataclass
class TemporalSet:
    """Sequences with their reference regions, built once and reused for every method."""
    sequences: list[Sequence]
    regions: list[tuple[np.ndarray, np.ndarray]]


def temporal_set(sequences: list[Sequence], matter, dark: bool = False) -> TemporalSet:
    seqs = [darkened(s) if dark else s for s in sequences]
    return TemporalSet(seqs, [reference_regions(s, matter) for s in seqs])


def score_temporal(runner: Runner, tset: TemporalSet) -> dict[str, float]:
    """Flicker averaged over the sequences (background, interior, and both together); for a method that
    skips frames (the plugin code), the fraction of frames it skipped."""
    bg_vals, fg_vals, all_vals = [], [], []
    skipped = frames = 0
    for seq, (bg, fg) in zip(tset.sequences, tset.regions):
        meters = [metrics.FlickerMeter(bg), metrics.FlickerMeter(fg), metrics.FlickerMeter(bg | fg)]
        runner.start()
        for f in seq.frames:
            a = runner.frame(f)
            for m in meters:
                m.update(a)
        if runner.skipped is not None:
            skipped, frames = skipped + runner.skipped, frames + len(seq.frames)
        bg_vals.append(meters[0].value)
        fg_vals.append(meters[1].value)
        all_vals.append(meters[2].value)
    out = {"flicker_bg": float(np.mean(bg_vals)), "flicker_interior": float(np.mean(fg_vals)),
           "flicker": float(np.mean(all_vals))}
    if frames:
        out["video_skipped"] = skipped / frames
    return out


def score_still_flicker(runner: Runner, still: Sequence) -> float:
    """Mean |a(t)-a(t-1)| over the whole frame of a still portrait with fresh noise per frame."""
    meter = metrics.FlickerMeter(np.ones(still.frames[0].shape[:2], bool))
    runner.start()
    for f in still.frames:
        meter.update(runner.frame(f))
    return meter.value


def score_method(method: Method, matter, samples: list[Sample], tset: TemporalSet | None,
                 still: Sequence | None = None, keep_alphas: bool = False
                 ) -> tuple[SceneScore, list[np.ndarray]]:
    """All figures of one method on one scene's stills and (optionally) its temporal set."""
    runner = Runner(method, matter)
    score, alphas = score_stills(runner, samples, keep_alphas)
    if tset is not None:
        for k, v in score_temporal(runner, tset).items():
            setattr(score, k, v)
    if still is not None:
        score.still_flicker = score_still_flicker(runner, still)
    return score, alphas


class EvalContext:
    """What every measurement shares: one model session, the portraits, the videos and their regions.

    Temporal sets (clean and dark) are built lazily once, so eval and tune pay for the videos only once.
    """

    def __init__(self, model_id: str, max_video_frames: int, portrait_limit: int | None = None,
                 threads: int = 2, still_repeats: int = 30):
        from .methods import load_matter
        from .scenes import load_portraits
        from .videos import load_videos, still_sequence
        self.model_id = model_id
        self.matter = load_matter(model_id, threads)
        self.portraits = load_portraits(limit=portrait_limit)
        self.videos = load_videos(max_video_frames)
        self.still = still_sequence(still_repeats)
        self._tsets: dict[bool, TemporalSet] = {}

    def temporal(self, scene: str) -> TemporalSet:
        """Darkened videos for the low-light scene, the clean ones for every other scene."""
        dark = scene == "low_light"
        if dark not in self._tsets:
            self._tsets[dark] = temporal_set(self.videos, self.matter, dark=dark)
        return self._tsets[dark]
