"""Is the eval's "plugin code" baseline (lib/obsmatte/evaluation/plugin_code.py) what the real plugin does?

Runs a built obs-backgroundremoval in the real OBS Studio, headless (Xvfb, obs-websocket, as the acceptance
tests do), on the evaluation's studio and café composites, and screenshots its output:
1. The filter added once the picture shows: its matte against PluginCodeBaseline's, pixel by pixel, on the
   plugin's own default model fed the way the plugin feeds it (the frame resized to 256x144, RGB / 255, the
   output's person channel taken as it comes), and each one's MAE and IoU against the exact truth; beside
   them this project's filter in the same OBS (Studio preset, its own default model, transparent
   background): the two default installs side by side.
3. A video, frame by frame: the first frames of each evaluation video shown in turn on one source with the
   plugin (each held a moment, a screenshot at its end), against the emulation fed the same frames once
   each: the temporal steps (the EMA, the similarity skip between consecutive frames) as the real plugin
   runs them.
2. The filter on from the start, the source showing a black frame first and then the picture (a camera
   that starts dark, a scene switched to): how much of the person the plugin shows, the emulation fed the
   same frames, and this project's filter (Studio preset, transparent background) in the same OBS.
Figures to read, nothing asserted; not run by CI: it needs the plugin, which this project neither builds
nor ships (GPL-3.0, a separate project).

    PYTHONPATH=lib .venv/bin/python tools/peer_check.py PLUGIN_DIR [--count 6] [--out /tmp/peer_check]

PLUGIN_DIR is the plugin's folder as OBS loads it: bin/64bit/obs-backgroundremoval.so (beside the
libonnxruntime it links) and data/ (its effects, locale and models/mediapipe.onnx, its default model). It
is copied into a throwaway OBS configuration; the filter runs with all of its defaults.

What OBS 29.0.2 needs here: the picture is a media source showing a PNG (like a webcam's frames), because
the plugin reads an image source back black there (it renders the source with no effect bound: "No vertex
shader specified" in the log); each composite is cropped to a width and height that are multiples of 8,
because at 514 px wide the plugin's read-back came out sheared (a row-stride mismatch, not a matting
difference). With the filter in the scene from the start, part 1 came out empty now and then: when the
media source's first frame is not decoded yet, the plugin sees black first, which is part 2.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from obsmatte.evaluation import metrics, scenes, videos  # noqa: E402
from obsmatte.evaluation.plugin_code import PluginCodeBaseline  # noqa: E402
from obsmatte import paths  # noqa: E402
from obsmatte.obs.headless import HeadlessObs, decode_screenshot, media_source  # noqa: E402
from obsmatte.obs.registration import FILTER_ID  # noqa: E402

PLUGIN = "obs-backgroundremoval"
FILTER = {"id": "background_removal", "name": "Background Removal", "settings": {}}  # all its defaults
OURS = {"id": FILTER_ID, "name": "AI Background Matting",
        "settings": {"preset": "studio", "background": "transparent"}}  # this project's filter, for part 2
OURS_SUFFIX = " (ours)"
SOURCES_PER_RUN = 4  # the plugin runs its model on the graphics thread for each source: a few per OBS run
logging.getLogger("obsws_python").setLevel(logging.CRITICAL)  # its retries while OBS starts are not news


class PluginModel:
    """The plugin's default model as the plugin runs it: RGB resized to 256x144 (bilinear), / 255, NHWC;
    its output's channel 1 read as the person probability without a softmax (its threshold then cuts it)."""

    def __init__(self, path: Path):
        import onnxruntime as ort
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        x = cv2.resize(rgb, (256, 144)).astype(np.float32) / 255.0
        return self.session.run(None, {self.input: x[None]})[0][0][..., 1]

    def reset(self) -> None:
        pass


def _mae(alpha: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(alpha - truth).mean())


def composites(count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB, truth) for the first `count` studio and café composites, cropped to multiples of 8."""
    portraits = scenes.load_portraits()
    out = []
    for sample in scenes.build_studio(portraits)[:count] + scenes.build_cafe(portraits)[:count]:
        h, w = (d - d % 8 for d in sample.alpha.shape)
        out.append((f"{sample.scene}_{sample.name}", np.ascontiguousarray(sample.image[:h, :w]),
                    np.ascontiguousarray(sample.alpha[:h, :w])))
    return out


def _media(name: str, path: Path, filters: list[dict]):
    """A media source showing one PNG and keeping it after it ends (no loop, no restart)."""
    return media_source(name, path, filters, looping=False, clear_on_media_end=False, restart_on_activate=False)


def _obs_with_plugin(plugin_dir: Path, workdir: Path, sources, script: Path | None = None) -> HeadlessObs:
    """OBS started headless with `sources` and the plugin copied into its (throwaway) configuration."""
    obs = HeadlessObs(workdir, sources, script)
    shutil.copytree(plugin_dir, obs.config_home / "obs-studio" / "plugins" / PLUGIN, symlinks=False)
    return obs.start(timeout=90)


def _wait_until_shown(shot, names: list[str], timeout: float = 60.0) -> None:
    """A media source shows its PNG a moment after OBS starts: wait until each named one draws something."""
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting and time.monotonic() < deadline:
        time.sleep(1)
        waiting = [name for name in waiting if not shot(name)[..., :3].any()]
    if waiting:
        raise RuntimeError(f"OBS showed nothing for {', '.join(waiting)}")


def run_plugin(plugin_dir: Path, images: list[tuple[str, Path]], workdir: Path, black: Path | None = None,
               settle_s: float = 5.0, ours: bool = False) -> dict[str, np.ndarray]:
    """The plugin's alpha (0..1) for each PNG, screenshot from OBS (kept in `workdir`/shots).

    black None: the filter is added once the source shows its picture, so the plugin's first frame is the
    picture. black a PNG: each source starts on it with the filter already on, and is switched to its
    picture once the filter has run on the black frame (a camera that starts dark, a scene switched to).
    ours: each picture also shows in a source "<name> (ours)" with this project's filter (Studio preset)."""
    if ours:
        images = [*images, *((name + OURS_SUFFIX, path) for name, path in images)]
    first = {name: black or path for name, path in images}

    def filters(name):
        return ([OURS] if name.endswith(OURS_SUFFIX) else [FILTER]) if black else []
    sources = [_media(name, first[name], filters(name)) for name, _ in images]
    obs = _obs_with_plugin(plugin_dir, workdir, sources, paths.ROOT / "obs_matting.py" if ours else None)
    alphas = {}
    try:
        client = obs.client(timeout=60)
        sizes = {name: cv2.imread(str(path)).shape[1::-1] for name, path in images}

        def shot(name):
            r = client.get_source_screenshot(name, "png", sizes[name][0], sizes[name][1], -1)
            return decode_screenshot(r.image_data)

        if black:
            time.sleep(settle_s)  # the filter runs on the black frame
            for name, path in images:
                client.set_input_settings(name, _media(name, path, []).settings, True)
        else:
            _wait_until_shown(shot, [name for name, _ in images])
            for name, _ in images:
                f = OURS if name.endswith(OURS_SUFFIX) else FILTER
                client.create_source_filter(name, f["name"], f["id"], f["settings"])
        time.sleep(settle_s)
        (workdir / "shots").mkdir()
        for name, _ in images:
            bgra = shot(name)
            cv2.imwrite(str(workdir / "shots" / f"{name}.png"), bgra)
            alphas[name] = bgra[..., 3].astype(np.float32) / 255.0
        client.disconnect()
    finally:
        obs.stop()
    return alphas


def run_sequence(plugin_dir: Path, frames: list[Path], workdir: Path, hold_s: float = 0.7) -> list[np.ndarray]:
    """The plugin's alpha after each PNG of `frames`, shown in turn on one media source (the filter added
    once the first shows), each held `hold_s` before its screenshot."""
    obs = _obs_with_plugin(plugin_dir, workdir, [_media("Video", frames[0], [])])
    alphas = []
    try:
        client = obs.client(timeout=60)
        size = cv2.imread(str(frames[0])).shape[1::-1]

        def shot(name="Video"):
            return decode_screenshot(client.get_source_screenshot(name, "png", size[0], size[1], -1).image_data)
        _wait_until_shown(shot, ["Video"])
        client.create_source_filter("Video", FILTER["name"], FILTER["id"], FILTER["settings"])
        for i, path in enumerate(frames):
            if i:
                client.set_input_settings("Video", _media("Video", path, []).settings, True)
            time.sleep(hold_s)
            alphas.append(shot()[..., 3].astype(np.float32) / 255.0)
        client.disconnect()
    finally:
        obs.stop()
    return alphas


def run_batches(plugin_dir: Path, pngs: list[tuple[str, Path]], workdir: Path, **kw) -> dict[str, np.ndarray]:
    step = SOURCES_PER_RUN // 2 if kw.get("ours") else SOURCES_PER_RUN
    real = {}
    for i in range(0, len(pngs), step):
        real.update(run_plugin(plugin_dir, pngs[i:i + step], workdir / f"obs{i // step}", **kw))
    return real


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("plugin_dir", type=Path)
    ap.add_argument("--count", type=int, default=6, help="composites per scene (studio, café)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/peer_check"))
    ap.add_argument("--frames", type=int, default=20, help="video frames per video (part 3)")
    ap.add_argument("--stride", type=int, default=3, help="take every n-th frame of the videos (part 3)")
    args = ap.parse_args()
    model_path = args.plugin_dir / "data" / "models" / "mediapipe.onnx"
    if not (args.plugin_dir / "bin" / "64bit" / f"{PLUGIN}.so").is_file() or not model_path.is_file():
        print(f"{args.plugin_dir} is not a built {PLUGIN} folder (bin/64bit/{PLUGIN}.so, data/models/mediapipe.onnx)")
        return 2
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "images").mkdir(parents=True)
    items = composites(args.count)
    pngs = []
    for name, rgb, _ in items:
        path = args.out / "images" / f"{name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        pngs.append((name, path))
    real = run_batches(args.plugin_dir, pngs, args.out / "first", ours=True)
    emulation = PluginCodeBaseline(PluginModel(model_path))
    print("1. The filter added once the picture shows: the real plugin's matte against the emulation's, and "
          "each default install's matte in OBS against the truth (the plugin on its default model, this "
          "project's Studio preset on its own)")
    print(f"{'composite':<24} {'pixels differing':>16}   real plugin MAE / IoU   emulation MAE / IoU"
          f"   this project MAE / IoU")
    rows = []
    for name, rgb, truth in items:
        emulation.reset()
        emulated, theirs, ours = emulation.matte(rgb), real[name], real[name + OURS_SUFFIX]
        rows.append((float((np.abs(emulated - theirs) > 0.5).mean()),
                     *(f(a, truth) for a in (theirs, emulated, ours) for f in (_mae, metrics.iou))))
        print(f"{name:<24} {100 * rows[-1][0]:>15.3f}%   {rows[-1][1]:.4f} / {rows[-1][2]:.3f}"
              f"          {rows[-1][3]:.4f} / {rows[-1][4]:.3f}        {rows[-1][5]:.4f} / {rows[-1][6]:.3f}")
    m = np.mean(rows, axis=0)
    print(f"{'mean':<24} {100 * m[0]:>15.3f}%   {m[1]:.4f} / {m[2]:.3f}          {m[3]:.4f} / {m[4]:.3f}"
          f"        {m[5]:.4f} / {m[6]:.3f}")

    black = args.out / "images" / "black.png"
    cv2.imwrite(str(black), np.zeros((64, 64, 3), np.uint8))
    later = run_batches(args.plugin_dir, pngs, args.out / "after_black", black=black, ours=True)
    print("2. The picture shown after a black frame, the filter on from the start: share of the person shown "
          "(mean alpha where the truth is person)")
    print(f"{'composite':<24} {'real plugin':>12} {'emulation':>10} {'this project (Studio)':>22}")
    shown = []
    for name, rgb, truth in items:
        person = truth > 0.5
        emulation.reset()
        emulation.matte(np.zeros_like(rgb))
        for _ in range(3):
            alpha = emulation.matte(rgb)
        shown.append([float(a[person].mean()) for a in (later[name], alpha, later[name + OURS_SUFFIX])])
        print(f"{name:<24} {shown[-1][0]:>12.3f} {shown[-1][1]:>10.3f} {shown[-1][2]:>22.3f}")
    m = np.mean(shown, axis=0)
    print(f"{'mean':<24} {m[0]:>12.3f} {m[1]:>10.3f} {m[2]:>22.3f}")

    print("3. Video frames shown in turn (each held 0.7 s): pixels where the real plugin's matte and the "
          "emulation's differ, per frame")
    emulation_model = PluginModel(model_path)
    for seq in videos.load_videos(args.frames * args.stride):
        frames = seq.frames[::args.stride][:args.frames]
        paths_ = []
        for i, rgb in enumerate(frames):
            h, w = (d - d % 8 for d in rgb.shape[:2])
            frames[i] = np.ascontiguousarray(rgb[:h, :w])
            paths_.append(args.out / "images" / f"{seq.name}_{i:03d}.png")
            cv2.imwrite(str(paths_[-1]), cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR))
        real_alphas = run_sequence(args.plugin_dir, paths_, args.out / f"video_{seq.name}")
        emulation = PluginCodeBaseline(emulation_model)
        differ = [float((np.abs(emulation.matte(rgb) - a) > 0.5).mean()) for rgb, a in zip(frames, real_alphas)]
        print(f"  {seq.name}: {len(frames)} frames, the emulation skipped {emulation.skipped} as similar; "
              f"differing pixels mean {100 * np.mean(differ):.3f}%, worst frame {100 * max(differ):.3f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
