"""`obs-matting bench`: what the pipeline costs on top of the model itself, measured side by side.

For every model whose file is present, with the default settings: median ms of preprocess (low-light
conditioning), inference (the adapter's resize/normalise + session.run + postprocess), refinement
(smoothing, threshold ramp, and island removal when min_person_area is set), total; masks/s; and the
ratio of pipeline throughput to bare `session.run` throughput on the same input, the two timed in
alternation in the same run so machine noise hits both alike; once for frames one at a time (process(),
the OBS worker's live frames: every step waits for the one before) and once for a stream of consecutive
frames (stream(), the video command: while the model runs frame N, a helper thread refines N-1 and
prepares N+1). Two inputs: the 1280x720 frame the command line sees, and the small frame OBS hands the
worker (the GPU-downscaled copy at the inference size).

With --presets: each preset's own mask pipeline instead (its model, second opinion, mirror pass,
wide-frame tiles, low-light conditioning and denoise), frames one at a time as the OBS worker runs
them, the presets timed in alternating rounds so machine noise hits them alike.
"""
from __future__ import annotations

import statistics
import time

import cv2
import numpy as np

from . import paths
from .models import RvmMatter, load_manifest
from .pipeline import MaskPipeline
from .settings import MatteSettings


def _test_frame(w: int, h: int) -> np.ndarray:
    """A real portrait when the shared folder is there (realistic island/threshold work), else a gradient."""
    still = paths.SHARED_DIR / "eval" / "stills" / "portrait.jpg"
    img = cv2.imread(str(still)) if still.is_file() else None
    if img is None:
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.dstack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), np.full_like(xx, 128)])
        return img.astype(np.uint8)
    return cv2.cvtColor(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def bench_model(model_id: str, frame: np.ndarray, runs: int, settings: MatteSettings) -> dict:
    pipeline = MaskPipeline(settings.replace(model=model_id))
    matter = pipeline.matter
    feeds = matter.feeds(frame)  # the bare model gets the exact tensors the pipeline would build
    bare, pre, inf, ref, tot = [], [], [], [], []
    for i in range(runs + 3):
        if isinstance(matter, RvmMatter):
            feeds = matter.feeds(frame)  # RVM: feed the current states, as the pipeline does
        t0 = time.perf_counter()
        matter.session.run(None, feeds)
        t1 = time.perf_counter()
        pipeline.process(frame)
        t2 = time.perf_counter()
        if i < 3:
            continue  # warm-up
        bare.append((t1 - t0) * 1e3)
        t = pipeline.times
        pre.append(t.preprocess)
        inf.append(t.inference)
        ref.append(t.refine)
        tot.append((t2 - t1) * 1e3)
    total = _median(tot)
    stream_ratio = _stream_ratio(pipeline, frame, runs) if not isinstance(matter, RvmMatter) else float("nan")
    return {"stream_ratio": stream_ratio, "model": model_id, "device": matter.info.device if matter.info else "?",
            "bare_ms": _median(bare), "preprocess_ms": _median(pre), "inference_ms": _median(inf),
            "refine_ms": _median(ref), "total_ms": total, "masks_per_s": 1e3 / total,
            "ratio": _median(bare) / total}


STREAM_BLOCK = 20  # frames per timed block of the streaming comparison (short blocks: drift hits both alike)


def _stream_ratio(pipeline: MaskPipeline, frame: np.ndarray, runs: int) -> float:
    """Throughput of MaskPipeline.stream (what `obs-matting video` runs: the previous frame refined and
    the next one prepared on a helper thread while the model runs) over bare session.run, in
    alternating blocks of STREAM_BLOCK frames; the median block time of each. The bare blocks run the
    exact tensors the stream builds."""
    matter = pipeline.matter
    feeds = matter.feeds(frame)
    bare, streamed = [], []
    for i in range(max(3, runs // STREAM_BLOCK) + 1):
        t0 = time.perf_counter()
        for _ in range(STREAM_BLOCK):
            matter.session.run(None, feeds)
        t1 = time.perf_counter()
        for _ in pipeline.stream(frame for _ in range(STREAM_BLOCK)):
            pass
        t2 = time.perf_counter()
        if i:  # the first block warms the helper thread's caches
            bare.append(t1 - t0)
            streamed.append(t2 - t1)
    return _median(bare) / _median(streamed)


PRESET_ROUNDS = 5


def bench_presets(preset_ids: list[str], inputs: list[tuple[str, np.ndarray]], runs: int) -> list[dict]:
    """Median ms per mask (and its preprocess part) of each preset's MaskPipeline.process on each input,
    in PRESET_ROUNDS alternating rounds of runs / PRESET_ROUNDS frames each."""
    from .presets import get_preset
    rows = []
    for label, frame in inputs:
        pipelines = {pid: MaskPipeline(get_preset(pid).apply()) for pid in preset_ids}
        times = {pid: ([], []) for pid in preset_ids}
        for pipeline in pipelines.values():
            for _ in range(3):  # warm-up
                pipeline.process(frame)
        for _ in range(PRESET_ROUNDS):
            for pid, pipeline in pipelines.items():
                for _ in range(max(1, runs // PRESET_ROUNDS)):
                    t0 = time.perf_counter()
                    pipeline.process(frame)
                    times[pid][0].append((time.perf_counter() - t0) * 1e3)
                    times[pid][1].append(pipeline.times.preprocess)
        for pid, (total, pre) in times.items():
            rows.append({"preset": pid, "input": label, "total_ms": _median(total), "preprocess_ms": _median(pre),
                         "models": _model_text(pipelines[pid])})
    return rows


def _model_text(pipeline: MaskPipeline) -> str:
    s = pipeline.settings
    views = [v for v, on in (("tiles", s.wide_tiles), ("mirror", s.mirror_pass), ("zoom", s.subject_zoom),
                             ("denoise", s.low_light_denoise > 0)) if on]
    return s.model + (f" + {s.second_model}" if s.second_model else "") + (f" ({', '.join(views)})" if views else "")


def run_bench(args) -> int:
    w, h = args.size  # (width, height): cli.size_wh checked them
    if getattr(args, "presets", None):
        from .presets import load_presets
        ids = list(load_presets()) if args.presets == "all" else args.presets.split(",")
        small_w = MatteSettings().inference_size
        small_h = max(1, round(small_w * h / w))  # a very wide --size still leaves a row
        inputs = [(f"{small_w}x{small_h} (OBS worker input)", _test_frame(small_w, small_h)),
                  (f"{w}x{h} (command line)", _test_frame(w, h))]
        print(f"obs-matting bench --presets: each preset's mask pipeline (MaskPipeline.process), {args.runs} "
              f"frames each in {PRESET_ROUNDS} alternating rounds; ms per mask, medians")
        print(f"{'preset':<14} {'input':<28} {'pre':>6} {'total':>7}  models")
        for r in bench_presets(ids, inputs, args.runs):
            print(f"{r['preset']:<14} {r['input']:<28} {r['preprocess_ms']:6.2f} {r['total_ms']:7.2f}  {r['models']}")
        return 0
    specs = load_manifest()
    ids = args.models.split(",") if args.models else [s.id for s in specs.values() if s.find_file()]
    settings = MatteSettings()
    small_w = settings.inference_size
    small_h = max(1, round(small_w * h / w))
    inputs = [(f"{w}x{h} (command line)", _test_frame(w, h)),
              (f"{small_w}x{small_h} (OBS worker input)", _test_frame(small_w, small_h))]
    islands = "off" if settings.min_person_area <= 0 else f"{settings.min_person_area:g} of the frame"
    print(f"obs-matting bench: {args.runs} runs each, threads={settings.threads}, default settings "
          f"(island removal {islands}; guided feather and erode are full-resolution steps: the shader in "
          f"OBS, compose.finish_alpha here)")
    header = (f"{'model':<28} {'input':<26} {'pre':>6} {'infer':>7} {'refine':>7} {'total':>7} "
              f"{'bare run':>8} {'masks/s':>8} {'ratio':>6} {'stream':>6}")
    print(header)
    print("-" * len(header))
    for model_id in ids:
        for label, frame in inputs:
            r = bench_model(model_id, frame, args.runs, settings)
            print(f"{model_id:<28} {label:<26} {r['preprocess_ms']:6.2f} {r['inference_ms']:7.2f} "
                  f"{r['refine_ms']:7.2f} {r['total_ms']:7.2f} {r['bare_ms']:8.2f} {r['masks_per_s']:8.1f} "
                  f"{r['ratio']:6.2f} {r['stream_ratio']:6.2f}")
    print("ms are medians; ratio = pipeline throughput / bare session.run throughput, frames one at a time "
          "(process(): the OBS worker's live frames); stream = the same for consecutive frames "
          "(stream(): the video command; frame N-1 refined and N+1 prepared while the model runs N). "
          "Target >= 0.8 for the default model.")
    return 0
