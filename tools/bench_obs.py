"""Benchmark the filter in the real OBS (headless, llvmpipe): prints figures, asserts nothing.

One run of OBS per case, all on the same 1280x720 source at 30 fps (the portrait image source, or with
--source video a looping video), in this order:
  none              no filter
  builtin_mask      OBS's own Image Mask/Blend filter (mask_filter_v2, alpha mask image): the same
                    full-size shading work without inference, the fair yardstick without a GPU
  ours_transparent  our filter, default settings (background transparent: the schema default)
  ours_color        our filter, colour background
  ours_blur         our filter, blurred background
  ours_normal_priority  our filter, default settings, with its threads left at normal priority
                    (OBSMATTE_THREAD_PRIORITY=normal; see lib/obsmatte/thread_priority.py)
  ours_steady_edges our filter, default settings with steady edges forced on (auto leaves them off on
                    llvmpipe): what the denoised guide's two extra full-size reads and the temporal
                    guide's pass cost here
  ours_steady_spatial  the same with steady edges 'spatial' (the denoised guide alone, no temporal pass)
  preset_studio, preset_cafe, preset_multi_person, preset_low_light
                    our filter created with only a preset (what a streamer picks from the list): its
                    models, views and background, each preset's whole cost in OBS
  peer_default      with --peer PLUGIN_DIR: the leading peer plugin, obs-backgroundremoval, built by the
                    user (this project neither builds nor ships it), with all its defaults: it runs its
                    model on OBS's graphics thread (in video_tick), we run ours on a worker thread. Use
                    it with --source video: on OBS 29.0.2 it reads an image source back black (so it
                    would infer once and skip every later frame as similar, costing nothing)
  ours_sinet, peer_sinet  only when asked for: both with a slower model, SINet (320x320; ~20 ms a mask
                    on an idle CPU, far more beside llvmpipe's rendering; ours needs
                    ../shared/models/sinet_softmax_320.onnx, the peer its own copy): where each filter
                    runs the model shows in OBS's frame time
Reports OBS's GetStats figures over the measured window and the filter's graphics-thread timings
(written by the filter to OBSMATTE_STATS_FILE), then the ratio of each of ours to the built-in mask.

With --rounds N the cases run N times in alternation (none, builtin, ours, none, builtin, ours, ...):
llvmpipe's frame time drifts by tens of percent over minutes on a shared 2-core machine (the built-in
mask measured 21.7 ms in one run and 29.9 ms in another), so one run per case can put the drift into
the ratio. The table then shows each case's median over the rounds, and every round's own ratio
(ours / built-in, measured minutes apart at most).

    .venv/bin/python tools/bench_obs.py [--seconds 60] [--rounds 1] [--cases none,builtin_mask,ours_transparent]
                                        [--screenshots DIR] [--json results.json] [--set KEY=VALUE ...]
                                        [--source image|video] [--peer PLUGIN_DIR]

--source video: instead of the still portrait, a looping 1280x720 media source (an async source, like a
webcam) made from the evaluation's video of a moving person (pose_1_576_30fps.mp4, scaled to 720 px high
on a grey frame), so every frame is new to the filters.
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
from obsmatte import paths  # noqa: E402
from obsmatte.obs.headless import HeadlessObs, SourceSpec, media_source  # noqa: E402

logging.getLogger("obsws_python").setLevel(logging.CRITICAL)
PORTRAIT = paths.SHARED_DIR / "eval" / "portraits" / "image" / "p_09ba26b4.jpg"
VIDEO = paths.SHARED_DIR / "eval" / "video" / "pose_1_576_30fps.mp4"
PEER_PLUGIN = "obs-backgroundremoval"
SINET = paths.SHARED_DIR / "models" / "sinet_softmax_320.onnx"  # not shipped: for the slower-model cases
MODEL = paths.MODELS_DIR / "mediapipe_selfie_landscape_144x256.onnx"  # the shipped default model
# the presets also use the shipped general model
SHIPPED = (MODEL, paths.MODELS_DIR / "mediapipe_selfie_general_256.onnx")
PRESETS = ("studio", "cafe", "multi_person", "low_light")
TARGET_RATIO = 1.10
WARM_UP_S = 8.0  # model load and first masks before the measured window


def prepare(work: Path) -> tuple[Path, Path, Path]:
    if not PORTRAIT.is_file() or not all(m.is_file() for m in SHIPPED):
        raise SystemExit(f"missing assets ({PORTRAIT} / {SHIPPED}): this benchmark needs the shared folder "
                         "beside the project")
    rgb = cv2.resize(cv2.imread(str(PORTRAIT)), (1280, 720), interpolation=cv2.INTER_AREA)
    portrait = work / "portrait.png"
    cv2.imwrite(str(portrait), rgb)
    mask = np.zeros((720, 1280, 4), np.uint8)  # an alpha image: an ellipse, soft edge
    cv2.ellipse(mask, (640, 400), (260, 330), 0, 0, 360, (255, 255, 255, 255), -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 4)
    mask_path = work / "mask.png"
    cv2.imwrite(str(mask_path), mask)
    models = work / "models"
    models.mkdir(exist_ok=True)
    for model in (*SHIPPED, SINET):
        if model.is_file() and not (models / model.name).exists():
            (models / model.name).symlink_to(model)
    return portrait, mask_path, models


def make_video(work: Path) -> Path:
    """The moving-person video as a 1280x720 30 fps file: each frame scaled to 720 px high, centred on grey."""
    if not VIDEO.is_file():
        raise SystemExit(f"missing {VIDEO}: --source video needs the shared folder beside the project")
    out = work / "video.mp4"
    reader = cv2.VideoCapture(str(VIDEO))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    if not writer.isOpened():
        raise SystemExit("this OpenCV cannot write an mp4v video: --source video needs it")
    frames = 0
    try:
        while True:
            ok, frame = reader.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            small = cv2.resize(frame, (round(w * 720 / h), 720), interpolation=cv2.INTER_AREA)
            canvas = np.full((720, 1280, 3), 128, np.uint8)
            x0 = (1280 - small.shape[1]) // 2
            canvas[:, x0:x0 + small.shape[1]] = small[:, :1280]
            writer.write(canvas)
            frames += 1
    finally:
        reader.release()
        writer.release()
    if frames == 0:
        raise SystemExit(f"could not read a frame of {VIDEO}")
    return out


def case_filters(case: str, mask_path: Path, overrides: dict | None = None) -> list[dict]:
    if case == "none":
        return []
    if case == "peer_default":
        return [{"id": "background_removal", "name": "Peer", "settings": {}}]
    if case == "peer_sinet":
        return [{"id": "background_removal", "name": "Peer",
                 "settings": {"model_select": "models/SINet_Softmax_simple.onnx"}}]
    if case == "ours_sinet":
        return [{"id": "obs_matting_filter", "name": "Matting",
                 "settings": {"preset": "custom", "model": "sinet", **(overrides or {})}}]
    if case == "builtin_mask":
        return [{"id": "mask_filter_v2", "name": "Mask",
                 "settings": {"type": "mask_alpha_filter.effect", "image_path": str(mask_path)}}]
    if case.startswith("preset_"):  # as a streamer picks it: the preset's values fill the rest
        return [{"id": "obs_matting_filter", "name": "Matting",
                 "settings": {"preset": case.removeprefix("preset_"), **(overrides or {})}}]
    background = case.removeprefix("ours_").replace("normal_priority", "transparent").replace(
        "steady_edges", "transparent").replace("steady_spatial", "transparent")
    settings = {"preset": "custom"}
    if case == "ours_steady_edges":
        settings["edge_denoise"] = "on"
    if case == "ours_steady_spatial":
        settings["edge_denoise"] = "spatial"
    if background != "transparent":  # the default case keeps the schema's defaults untouched
        settings["background"] = background
    if background == "color":
        settings["background_color"] = 0xFF00FF00  # OBS stores 0xAABBGGRR: green
    settings.update(overrides or {})
    return [{"id": "obs_matting_filter", "name": "Matting", "settings": settings}]


CASES = ("none", "builtin_mask", "ours_transparent", "ours_color", "ours_blur", "ours_normal_priority",
         "ours_steady_edges", "ours_steady_spatial") + tuple(f"preset_{p}" for p in PRESETS)
ON_REQUEST = ("ours_sinet",)  # not in the default list: it needs a model from the shared folder
PEER_CASES = ("peer_default", "peer_sinet")
CASE_ENV = {"ours_normal_priority": {"OBSMATTE_THREAD_PRIORITY": "normal"}}


def run(case: str, work: Path, portrait: Path, mask_path: Path, models: Path, seconds: float,
        screenshots: Path | None, overrides: dict | None = None, video: Path | None = None,
        peer: Path | None = None) -> dict:
    run_dir = work / case
    run_dir.mkdir()
    stats_base = run_dir / "stats"
    filters = case_filters(case, mask_path, overrides)
    if video is not None:
        source = media_source("Portrait", video, filters, looping=True, restart_on_activate=True)
    else:
        source = SourceSpec("Portrait", "image_source", {"file": str(portrait)}, filters)
    obs = HeadlessObs(run_dir, [source], ROOT / "obs_matting.py",
                      {"OBSMATTE_MODEL_PATH": str(models), "OBSMATTE_STATS_FILE": str(stats_base),
                       **CASE_ENV.get(case, {})})
    if case in PEER_CASES:
        shutil.copytree(peer, obs.config_home / "obs-studio" / "plugins" / PEER_PLUGIN, symlinks=False)
    obs.start()
    try:
        client = obs.client(timeout=30)
        time.sleep(WARM_UP_S)
        s0 = client.get_stats()
        time.sleep(seconds)
        s1 = client.get_stats()
        if screenshots is not None:
            r = client.get_source_screenshot("Portrait", "png", 1280, 720, -1)
            screenshots.mkdir(parents=True, exist_ok=True)
            (screenshots / f"bench_{case}.png").write_bytes(base64.b64decode(r.image_data.split(",", 1)[1]))
        time.sleep(1.2)  # the filter writes its stats once a second: let the last window land
        client.disconnect()
    finally:
        code = obs.stop()
    out = {"case": case, "exit_code": code,
           "avg_frame_render_ms": s1.average_frame_render_time,
           "render_skipped": s1.render_skipped_frames - s0.render_skipped_frames,
           "render_total": s1.render_total_frames - s0.render_total_frames,
           "output_skipped": s1.output_skipped_frames - s0.output_skipped_frames,
           "active_fps": s1.active_fps, "cpu_usage": s1.cpu_usage}
    stats_files = list(run_dir.glob("stats.*.json"))
    if stats_files:
        out["filter"] = json.loads(stats_files[0].read_text())
    return out


def report(results: list[dict], seconds: float, rounds: int = 1, source: str = "image") -> None:
    base = next((r["avg_frame_render_ms"] for r in results if r["case"] == "builtin_mask"), None)
    each = f", median of {rounds} alternating rounds" if rounds > 1 else ""
    what = "looping video (media source)" if source == "video" else "image source"
    print(f"\n1280x720 @ 30 fps, {what}, {seconds:.0f} s measured per case (after {WARM_UP_S:.0f} s warm-up){each}")
    print("| case | OBS avg frame ms | / built-in | render skipped | output skipped | fps | "
          "filter total median / p99 ms | masks/s | inference ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r['avg_frame_render_ms'] / base:.2f}" if base else "-"
        f = r.get("filter") or {}
        total = f.get("graphics_ms", {}).get("total")
        total_s = f"{total['median']:.2f} / {total['p99']:.2f}" if total else "-"
        mps = f"{f['masks_per_second']:.1f}" if "masks_per_second" in f else "-"
        inf = f"{f['inference_ms']:.1f}" if "inference_ms" in f else "-"
        print(f"| {r['case']} | {r['avg_frame_render_ms']:.2f} | {ratio} | {r['render_skipped']}/{r['render_total']} "
              f"| {r['output_skipped']} | {r['active_fps']:.1f} | {total_s} | {mps} | {inf} |")
    if base:
        print(f"target: ours / built-in <= {TARGET_RATIO:.2f}, filter total <= 3 ms, no skipped frames")
    for r in results:
        f = r.get("filter")
        if not f:
            continue
        steps = ", ".join(f"{k} {v['median']:.2f}/{v['p99']:.2f}" for k, v in f["graphics_ms"].items())
        print(f"  {r['case']} steps median/p99 ms: {steps}")
        extra = {k: f[k] for k in ("mask_age_ms", "latency_ms", "device", "error") if k in f}
        if "stages_per_frame" in f:
            extra["stages_per_frame"] = f["stages_per_frame"]
        print(f"  {r['case']} {extra}")
    codes = {r["case"]: r["exit_code"] for r in results}
    print(f"OBS exit codes: {codes}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured seconds per case")
    ap.add_argument("--rounds", type=int, default=1, help="run the cases this many times, alternating")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES))
    ap.add_argument("--screenshots", type=Path, default=None, help="save each case's output here")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    ap.add_argument("--source", choices=("image", "video"), default="image",
                    help="the still portrait (image source) or a looping video of a moving person (media source)")
    ap.add_argument("--peer", type=Path, default=None, metavar="PLUGIN_DIR",
                    help="a built obs-backgroundremoval folder (bin/64bit/obs-backgroundremoval.so, data/): "
                         "allows the cases " + ", ".join(PEER_CASES))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one of our filter's settings (JSON value), e.g. --set max_masks_per_second=15")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set needs KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    if overrides:
        print(f"our filter's settings overridden: {overrides}")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    allowed = CASES + ON_REQUEST + (PEER_CASES if args.peer else ())
    unknown = [c for c in cases if c not in allowed]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {', '.join(allowed)}"
                 + ("" if args.peer else f" ({', '.join(PEER_CASES)} need --peer)"))
    if "ours_sinet" in cases and not SINET.is_file():
        ap.error(f"ours_sinet needs {SINET}")
    if args.peer and not (args.peer / "bin" / "64bit" / f"{PEER_PLUGIN}.so").is_file():
        ap.error(f"--peer {args.peer}: no bin/64bit/{PEER_PLUGIN}.so there")
    rounds: list[list[dict]] = []
    with tempfile.TemporaryDirectory(prefix="bench_obs_") as tmp:
        work = Path(tmp)
        portrait, mask_path, models = prepare(work)
        video = make_video(work) if args.source == "video" else None
        for k in range(args.rounds):
            rounds.append([])
            for case in cases:
                run_dir = work / f"round{k}"
                run_dir.mkdir(exist_ok=True)
                r = run(case, run_dir, portrait, mask_path, models, args.seconds, args.screenshots, overrides,
                        video, args.peer)
                rounds[-1].append(r)
                print(f"round {k + 1}/{args.rounds} {case}: {r['avg_frame_render_ms']:.2f} ms, "
                      f"skipped {r['render_skipped']}/{r['render_total']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))
    report(combine(rounds), args.seconds, len(rounds), args.source)
    if len(rounds) > 1:
        report_rounds(rounds)
    return 0


def combine(rounds: list[list[dict]]) -> list[dict]:
    """One row per case over the rounds: the median frame time (and that round's filter figures),
    skipped frames summed, the lowest fps."""
    out = []
    for i, first in enumerate(rounds[0]):
        runs = sorted((rnd[i] for rnd in rounds), key=lambda r: r["avg_frame_render_ms"])
        row = dict(runs[len(runs) // 2])
        row["avg_frame_render_ms"] = statistics.median(r["avg_frame_render_ms"] for r in runs)
        for key in ("render_skipped", "render_total", "output_skipped"):
            row[key] = sum(r[key] for r in runs)
        row["active_fps"] = min(r["active_fps"] for r in runs)
        row["exit_code"] = max((r["exit_code"] for r in runs), key=lambda c: c != 0)
        out.append(row)
    return out


def report_rounds(rounds: list[list[dict]]) -> None:
    cases = [r["case"] for r in rounds[0]]
    if "builtin_mask" not in cases:
        return
    base = cases.index("builtin_mask")
    print("\nper round, OBS avg frame ms (ratio to that round's built-in mask):")
    for k, rnd in enumerate(rounds):
        b = rnd[base]["avg_frame_render_ms"]
        cells = ", ".join(f"{r['case']} {r['avg_frame_render_ms']:.2f} ({r['avg_frame_render_ms'] / b:.2f})" for r in rnd)
        print(f"  round {k + 1}: {cells}")
    for i, case in enumerate(cases):
        if case.startswith(("ours", "preset_", "peer_")):
            ratios = [rnd[i]["avg_frame_render_ms"] / rnd[base]["avg_frame_render_ms"] for rnd in rounds]
            print(f"  {case}: median of the per-round ratios {statistics.median(ratios):.2f} "
                  f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    sys.exit(main())
