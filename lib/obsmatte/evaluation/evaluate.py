"""`obs-matting eval`: every preset, the peer baselines and the proposed refinement on every scene.

Two peer baselines run on every scene: "baseline", the plugin's default as the issue states it, which the
targets are judged against, and "plugin code", its default as its source code runs it (plugin_code.py),
reported beside it for information.

Results: {scene: {method: SceneScore}} plus, per scene, the alphas of the first image for the
side-by-side pictures (input, truth, the scene's own preset, baseline, plugin code).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import paths
from ..errors import PresetError
from ..presets import BUILTIN_ORDER, load_preset_file
from ..settings import MatteSettings
from .methods import BASELINE, PLUGIN_CODE, PROPOSED, Method
from .runner import EvalContext, SceneScore, score_method
from .scenes import SCENES, Sample, build_scene

FULL_VIDEO_FRAMES = 120
QUICK_VIDEO_FRAMES = 6
QUICK_PORTRAITS = 3
QUICK_STILL_REPEATS = 5


@dataclass
class EvalResult:
    model_id: str
    scenes: list[str]
    methods: list[str]
    scores: dict[str, dict[str, SceneScore]] = field(default_factory=dict)
    examples: dict[str, tuple[Sample, dict[str, np.ndarray]]] = field(default_factory=dict)
    portraits: int = 0
    video_frames: int = 0
    quick: bool = False


def preset_methods(preset_ids: list[str] | None, model_id: str) -> list[Method]:
    """The built-in presets (a user's own preset files do not change what the report measures)."""
    available = [p for p in BUILTIN_ORDER if (paths.PRESETS_DIR / f"{p}.json").exists()]
    wanted = list(preset_ids or available)
    for pid in wanted:
        if pid not in available:
            raise PresetError(f"unknown preset '{pid}' (available: {', '.join(available)})")
    return [Method(pid, load_preset_file(paths.PRESETS_DIR / f"{pid}.json").apply(MatteSettings())
                   .replace(model=model_id)) for pid in wanted]


def run_eval(scenes: list[str] | None = None, preset_ids: list[str] | None = None, quick: bool = False,
             model_id: str = "mediapipe_selfie_landscape", proposed: bool = True, log=print) -> EvalResult:
    scenes = list(scenes or SCENES)
    for s in scenes:
        if s not in SCENES:
            from ..errors import SettingsError
            raise SettingsError(f"unknown scene '{s}' (known: {', '.join(SCENES)})")
    methods = preset_methods(preset_ids, model_id)  # bad names fail before anything heavy loads
    frames = QUICK_VIDEO_FRAMES if quick else FULL_VIDEO_FRAMES
    ctx = EvalContext(model_id, frames, portrait_limit=QUICK_PORTRAITS if quick else None,
                      still_repeats=QUICK_STILL_REPEATS if quick else 30)
    result = EvalResult(model_id, scenes, [m.name for m in methods] + [BASELINE, PLUGIN_CODE],
                        portraits=len(ctx.portraits), video_frames=len(ctx.videos[0].frames), quick=quick)
    own_settings = {m.name: m.settings for m in methods}
    for scene in scenes:
        samples = build_scene(scene, ctx.portraits)
        tset = ctx.temporal(scene)
        runs = [*methods, Method(BASELINE, None), Method(PLUGIN_CODE, None, PLUGIN_CODE)]
        if proposed and scene in own_settings:
            # The proposal runs with the scene's own preset values, so its gain over that row is the
            # refinement alone.
            runs.append(Method(PROPOSED, own_settings[scene], PROPOSED))
        result.scores[scene] = {}
        example: dict[str, np.ndarray] = {}
        for m in runs:
            score, alphas = score_method(m, ctx.matter, samples, tset, ctx.still, keep_alphas=True)
            result.scores[scene][m.name] = score
            example[m.name] = alphas[0]
            log(f"{scene:13s} {m.name:13s} MAE {score.mae:.4f} edge {score.edge:.4f} IoU {score.iou:.4f} "
                f"flicker {score.flicker:.2e} still {score.still_flicker:.5f} {score.ms:.1f} ms")
        result.examples[scene] = (samples[0], example)
    if proposed and PROPOSED not in result.methods and any(s in own_settings for s in scenes):
        result.methods.append(PROPOSED)
    return result


def _ratio(ours: float, theirs: float) -> float | None:
    return ours / theirs if theirs else None


def vs_plugin_code(ours, plug) -> dict:
    """The own preset against the plugin code, for information (no target is judged on it): MAE gain,
    edge and flicker ratios (None where the plugin code's figure is 0), and the plugin code's own figures."""
    return {"mae_gain": 1 - ours.mae / plug.mae if plug.mae else 0.0, "edge_ratio": _ratio(ours.edge, plug.edge),
            "flicker_ratio": _ratio(ours.flicker, plug.flicker), "flicker": ours.flicker,
            "flicker_plugin_code": plug.flicker, "still_flicker": ours.still_flicker,
            "still_flicker_plugin_code": plug.still_flicker, "video_skipped_plugin_code": plug.video_skipped,
            "recall_min_plugin_code": plug.recall_min, "persons_lost_plugin_code": plug.persons_lost,
            "iou_loss_plugin_code": plug.iou_loss, "iou_loss_live_plugin_code": plug.iou_loss_live}


def targets_table(result: EvalResult) -> list[dict]:
    """Per scene with its own preset: each target and whether it is met on this run's images (against the
    baseline), and the same figures against the plugin code under "vs_plugin_code" (not judged)."""
    from .tune import MAE_GAIN, MAX_IOU_LOSS, flicker_limit
    from .runner import RECALL_TARGET
    rows = []
    for scene in result.scenes:
        scores = result.scores[scene]
        if scene not in scores:
            continue
        ours, base = scores[scene], scores[BASELINE]
        row = {"scene": scene,
               "mae_gain": 1 - ours.mae / base.mae if base.mae else 0.0,
               "mae_ok": ours.mae <= (1 - MAE_GAIN) * base.mae,
               "edge_ratio": ours.edge / base.edge if base.edge else 0.0,
               "edge_ok": ours.edge <= base.edge,
               "flicker_ratio": ours.flicker / base.flicker if base.flicker else 0.0,
               "flicker": ours.flicker, "flicker_base": base.flicker,
               "flicker_ok": ours.flicker <= flicker_limit(base.flicker)}
        if scene == "multi_person":
            row["recall_min"] = ours.recall_min
            row["recall_ok"] = ours.recall_min >= RECALL_TARGET
        if scene == "low_light":
            row["iou_loss"] = ours.iou_loss
            row["iou_loss_ok"] = ours.iou_loss <= MAX_IOU_LOSS
            row["iou_loss_live"] = ours.iou_loss_live
            row["iou_loss_live_ok"] = ours.iou_loss_live <= MAX_IOU_LOSS
        if PLUGIN_CODE in scores:
            row["vs_plugin_code"] = vs_plugin_code(ours, scores[PLUGIN_CODE])
        rows.append(row)
    return rows
