"""Search each preset's refinement values on its own scene and write them into presets/<id>.json.

Objective: mean absolute alpha error (MAE) on the tuning split (the first 8 portraits), subject to
  edge error <= the baseline's, flicker <= half the baseline's, every person kept (recall >= 0.95) for
  multi-person, IoU lost to low light <= 0.03 for low light.
Search: the current values of every preset and the schema defaults, then a random search with a fixed
seed over a coarse grid, then one coordinate sweep around the best (each parameter, every grid value).
The cross-validation's searches start from the defaults alone (the shipped values saw every portrait).
When no candidate meets every constraint, the one that violates them least is kept and the report says
which target is missed and by how much. The chosen values are then measured on all 12 portraits and
on the 4 held-out ones (over backdrops the tuning split does not use, scenes.HELD_OUT_ARGS), and those
figures go into the preset's "tuning" block.
"""
from __future__ import annotations

import datetime as _dt
import json
import random
import sys
from dataclasses import dataclass

import numpy as np
from pathlib import Path

from .. import paths
from ..presets import BUILTIN_ORDER, load_preset_file
from ..settings import MatteSettings
from .methods import BASELINE, Method
from .runner import LIVE_FRAMES, RECALL_TARGET, EvalContext, SceneScore, score_method
from .scenes import build_scene, build_split, split

SCENE_OF_PRESET = {"studio": "studio", "cafe": "cafe", "multi_person": "multi_person", "low_light": "low_light"}
GRID = {
    "threshold": (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7),
    "softness": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4),
    "erode": (-2, 0, 2, 4),  # knob pixels are pixels of a 720p frame (the eval's frames are 640 px long)
    "feather": (0.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 40.0),
    "feather_mode": ("guided", "blur"),
    "temporal_smoothing": (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95),
    "min_person_area": (0.0, 0.005, 0.01, 0.02),
    "low_light_boost": (0.0, 0.25, 0.5, 0.75, 1.0),
}
# The low-light boost only acts on dark frames; on the other scenes it stays off (it would cost time
# on the live path for nothing), so it is searched for the low-light preset only.
TUNED_KEYS = tuple(GRID)
EDGE_SLACK = 1.0  # edge error at most the baseline's
# Flicker at most half the baseline's, as the issue says. There was a floor (or below 1e-5, whatever the
# baseline does) while the baseline's smoothing was the wrong way round and it flickered about half as much
# as the plugin does; with the corrected baseline the floor accepted up to ~2x the baseline's flicker, so
# it is gone.
FLICKER_RATIO = 0.5


def flicker_limit(baseline_flicker: float) -> float:
    return FLICKER_RATIO * baseline_flicker
MAE_GAIN = 0.20  # target: MAE at least 20% lower than the baseline's
MAX_IOU_LOSS = 0.03
RELAX_MARGIN = 0.20


def _shortfall(value: float, limit: float) -> float:
    """How far `value` is over `limit`, relative to it; a limit of 0 (a baseline that did not flicker at all on
    a few still frames: half of it is 0 too) is over by 1 for any value above it."""
    if value <= limit:
        return 0.0
    return value / limit - 1.0 if limit > 0 else 1.0


@dataclass
class Constraints:
    edge_max: float
    flicker_max: float
    need_recall: bool
    need_low_light: bool
    recall_min: float = RECALL_TARGET
    iou_loss_max: float = MAX_IOU_LOSS

    def violation(self, s: SceneScore) -> float:
        """0 when every constraint holds; otherwise the sum of the relative shortfalls."""
        v = _shortfall(s.edge, self.edge_max) + _shortfall(s.flicker, self.flicker_max)
        if self.need_recall:
            v += 10 * max(0.0, self.recall_min - s.recall_min)
        if self.need_low_light:
            v += 10 * max(0.0, s.iou_loss_live - self.iou_loss_max)
        return v

    def relaxed(self, scores: list[SceneScore]) -> "Constraints":
        """Each limit no score meets moves to the best value reached plus RELAX_MARGIN.

        The margin is wide on purpose: with the shipped temporal rule every candidate's flicker lies within
        ~10-15% of the others (and ~60% above the baseline's), and a tight margin let those small gaps
        throw away a 25% MAE gain on the cafe scene."""
        edge = min(s.edge for s in scores)
        flick = min(s.flicker for s in scores)
        loss = min(s.iou_loss_live for s in scores) if self.need_low_light else 0.0
        recall = max(s.recall_min for s in scores) if self.need_recall else 1.0
        grow = 1 + RELAX_MARGIN
        return Constraints(edge_max=self.edge_max if edge <= self.edge_max else edge * grow,
                           flicker_max=self.flicker_max if flick <= self.flicker_max else flick * grow,
                           need_recall=self.need_recall, need_low_light=self.need_low_light,
                           recall_min=self.recall_min if recall >= self.recall_min else recall * 0.99,
                           iou_loss_max=self.iou_loss_max if loss <= self.iou_loss_max else loss * grow)


def select(tried: dict, cons: Constraints) -> tuple:
    """The key with the lowest MAE among candidates meeting every constraint.

    A constraint no candidate can meet (say, flicker at half the baseline's with the shipped temporal
    rule) is relaxed to the best value any candidate reached plus RELAX_MARGIN (20%), so the other
    constraints and the objective still decide; if even then nothing qualifies, the least total
    violation wins.
    """
    relaxed = cons.relaxed([t[2] for t in tried.values()])
    ok = [k for k, t in tried.items() if relaxed.violation(t[2]) == 0]
    if ok:
        return min(ok, key=lambda k: tried[k][1])
    return min(tried, key=lambda k: (relaxed.violation(tried[k][2]), tried[k][1]))


def _candidate_space(preset_id: str) -> dict[str, tuple]:
    space = dict(GRID)
    if preset_id != "low_light":
        space["low_light_boost"] = (0.0,)
    return space


def _seeds(preset_id: str, with_presets: bool = True) -> list[dict]:
    """The defaults and (with_presets) the current values of every built-in preset: tuning never ends worse
    than them."""
    out = [{k: MatteSettings().to_dict()[k] for k in TUNED_KEYS}]
    for pid in BUILTIN_ORDER if with_presets else ():
        f = paths.PRESETS_DIR / f"{pid}.json"
        if f.exists():
            vals = load_preset_file(f).apply().to_dict()
            out.append({k: vals[k] for k in TUNED_KEYS})
    for c in out:
        if preset_id != "low_light":
            c["low_light_boost"] = 0.0
    return out


def _key(c: dict) -> tuple:
    return tuple(c[k] for k in TUNED_KEYS)


OBJECTIVES = {
    "mae": "minimise MAE",
    # Each image counts alike: the geometric mean over images of ours / baseline MAE. With the plain mean
    # two hard images (model mistakes worth 0.05-0.09 MAE each) decide the ranking and the values chosen
    # for them fit those two; the ratio asks what helps most images.
    "ratio": "minimise the geometric mean over images of MAE / the baseline's MAE",
}


def objective_value(objective: str, ours: SceneScore, base: SceneScore) -> float:
    if objective == "mae":
        return ours.mae
    ratios = [max(o["mae"], 1e-6) / max(b["mae"], 1e-6) for o, b in zip(ours.per_sample, base.per_sample)]
    return float(np.exp(np.mean(np.log(ratios))))


def search(ctx: EvalContext, preset_id: str, budget: int, seed: int = 0, log=print, kind: str = "preset",
           tune_on: str = "tune", samples: list | None = None, objective: str = "mae",
           seed_with_presets: bool = True) -> tuple[dict, SceneScore, SceneScore, Constraints, int]:
    """(best values, its score, the baseline's score, constraints, candidates tried) on the portraits
    `tune_on` names: "tune" (the tuning split) or "all"; or on `samples` when given. The objective is
    one of OBJECTIVES.

    seed_with_presets: start from the shipped presets' values as well as the defaults (_seeds), so the
    search never ends worse than what ships. Those values were chosen looking at all 12 portraits, so a
    search whose result is scored on portraits it must not have seen (a cross-validation fold) passes False.
    """
    scene = SCENE_OF_PRESET[preset_id]
    samples = samples if samples is not None else build_split(scene, ctx.portraits, tune_on)
    tset = ctx.temporal(scene)
    base_settings = load_preset_file(paths.PRESETS_DIR / f"{preset_id}.json").apply() \
        .replace(model=ctx.model_id)
    baseline, _ = score_method(Method(BASELINE, None), ctx.matter, samples, tset)
    cons = Constraints(edge_max=baseline.edge * EDGE_SLACK, flicker_max=flicker_limit(baseline.flicker),
                       need_recall=scene == "multi_person", need_low_light=scene == "low_light")
    log(f"[{preset_id}] baseline on the {'tuning split' if tune_on == 'tune' else 'tuning set (all portraits)'}: MAE {baseline.mae:.4f} edge {baseline.edge:.4f} "
        f"flicker {baseline.flicker:.2e}")
    space = _candidate_space(preset_id)
    tried: dict[tuple, tuple[float, float, SceneScore]] = {}

    def evaluate(values: dict):
        k = _key(values)
        if k in tried:
            return tried[k]
        s, _ = score_method(Method(preset_id, base_settings.replace(**values), kind), ctx.matter, samples, tset)
        tried[k] = (cons.violation(s), objective_value(objective, s, baseline), s)
        return tried[k]

    def best() -> dict:
        return dict(zip(TUNED_KEYS, select(tried, cons)))

    for c in _seeds(preset_id, seed_with_presets):
        evaluate(c)
    rng = random.Random(seed)
    for _ in range(budget):
        evaluate({k: rng.choice(v) for k, v in space.items()})
    # One coordinate sweep around the best: random search finds the basin, this settles each knob.
    for key in TUNED_KEYS:
        current = best()
        for v in space[key]:
            evaluate({**current, key: v})
    chosen = best()
    v, _, s = tried[_key(chosen)]
    relaxed = cons.relaxed([t[2] for t in tried.values()])
    if relaxed != cons:
        log(f"[{preset_id}] unattainable with the shipped refinement, relaxed to the best reached (+20%): "
            f"{relaxed}")
    log(f"[{preset_id}] {len(tried)} candidates; best MAE {s.mae:.4f} edge {s.edge:.4f} "
        f"flicker {s.flicker:.2e} violation {v:.3f}: {chosen}")
    return chosen, s, baseline, cons, len(tried)


def _figures(s: SceneScore) -> dict:
    keys = ["mae", "edge", "iou", "flicker", "still_flicker", "ms"]
    if s.recall_min == s.recall_min:  # not NaN
        keys += ["recall_min", "persons_lost"]
    if s.iou_normal == s.iou_normal:
        keys += ["iou_normal", "iou_loss", "iou_live", "iou_loss_live"]
    d = s.as_dict()
    # five significant digits: flicker on the videos is ~1e-6, which fixed decimals would round to 0
    return {k: (float(f"{d[k]:.5g}") if isinstance(d[k], float) else d[k]) for k in keys if d[k] == d[k]}


def targets(ours: SceneScore, base: SceneScore, scene: str) -> dict[str, dict]:
    """Each target: met or not, and the figures it compares."""
    t = {
        "mae_20pct_below_baseline": {"met": ours.mae <= (1 - MAE_GAIN) * base.mae,
                                     "ratio": round(ours.mae / base.mae, 3) if base.mae else None},
        "edge_not_worse": {"met": ours.edge <= base.edge, "ratio": round(ours.edge / base.edge, 3)},
        "flicker_half_of_baseline": {"met": ours.flicker <= flicker_limit(base.flicker),
                                     "ratio": round(ours.flicker / base.flicker, 3) if base.flicker else None},
    }
    if scene == "multi_person":
        t["every_person_kept"] = {"met": ours.recall_min >= RECALL_TARGET,
                                  "recall_min": round(ours.recall_min, 3)}
    if scene == "low_light":
        # the measure: the same images, one dark frame each; live (the last of runner.LIVE_FRAMES
        # noisy frames of a still scene, what a stream gives the low-light denoiser) is reported beside it
        t["low_light_iou_loss_max_0.03"] = {"met": ours.iou_loss <= MAX_IOU_LOSS,
                                            "iou_loss_single_frame": round(ours.iou_loss, 4),
                                            "met_live": ours.iou_loss_live <= MAX_IOU_LOSS,
                                            "iou_loss_live": round(ours.iou_loss_live, 4)}
    return t


def measure_split(ctx: EvalContext, preset_id: str, settings: MatteSettings, which: str
                  ) -> tuple[SceneScore, SceneScore]:
    scene = SCENE_OF_PRESET[preset_id]
    samples = build_split(scene, ctx.portraits, which)  # the held-out split on backdrops the tuning one lacks
    tset = ctx.temporal(scene)
    ours, _ = score_method(Method(preset_id, settings), ctx.matter, samples, tset)
    base, _ = score_method(Method(BASELINE, None), ctx.matter, samples, tset)
    return ours, base


def write_preset(path: Path, values: dict, tuning: dict, provenance: str) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    settings = dict(data.get("settings", {}))
    for k, v in values.items():
        settings[k] = v
    settings["model"] = tuning["model"]
    out = {"name": data["name"], "description": data.get("description", ""), "provenance": provenance,
           "settings": settings, "tuning": tuning}
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    load_preset_file(path)  # the result must still pass the schema


CV_FOLDS = 3


def cross_validate(ctx: EvalContext, preset_id: str, budget: int, seed: int = 0, folds: int = CV_FOLDS,
                   log=print, objective: str = "mae") -> dict:
    """How well the tuning generalises when it sees every portrait: each fold's portraits (every
    folds-th one) are held out, the same search runs on the rest, and the values it picks are scored on
    the held-out ones. Every portrait is thus scored by values tuned without it; the pooled figures
    (means over all portraits, ours and the baseline) estimate what "tuned on all" gives on new faces.
    The samples are exactly those of the whole scene (same composites, same backgrounds), split by the
    portraits in them; a multi-person image with faces from both sides of a fold is used by neither.
    Stills only (mae, edge, iou): the videos are the same in every fold. The folds' searches start from
    the defaults, not from the shipped presets' values: those were chosen looking at every portrait, the
    fold's held-out ones too, and would carry what they saw of them into the fold's values."""
    scene = SCENE_OF_PRESET[preset_id]
    base_settings = load_preset_file(paths.PRESETS_DIR / f"{preset_id}.json").apply().replace(model=ctx.model_id)
    every = build_scene(scene, ctx.portraits)
    ours_rows, base_rows, picked = [], [], []
    for k in range(folds):
        held = ctx.portraits[k::folds]
        held_names = {p.name for p in held}
        rest = [s for s in every if not held_names.intersection(s.sources)]
        samples = [s for s in every if held_names.issuperset(s.sources)]
        chosen, *_ = search(ctx, preset_id, budget, seed, log=lambda *_: None, samples=rest, objective=objective,
                            seed_with_presets=False)
        ours, _ = score_method(Method(preset_id, base_settings.replace(**chosen)), ctx.matter, samples, None)
        base, _ = score_method(Method(BASELINE, None), ctx.matter, samples, None)
        ours_rows += ours.per_sample
        base_rows += base.per_sample
        picked.append(chosen)
        log(f"[{preset_id}] fold {k + 1}/{folds}: held out {', '.join(p.name for p in held)}: MAE "
            f"{ours.mae:.4f} vs baseline {base.mae:.4f} with {chosen}")  # the values: why a fold did badly

    def pooled(rows: list[dict]) -> dict:
        return {key: float(f"{np.mean([r[key] for r in rows]):.5g}") for key in ("mae", "edge", "iou")}
    out = {"folds": folds, "preset": pooled(ours_rows), "baseline": pooled(base_rows),
           "values_per_fold": picked}
    out["mae_ratio"] = round(out["preset"]["mae"] / out["baseline"]["mae"], 3)
    out["edge_ratio"] = round(out["preset"]["edge"] / out["baseline"]["edge"], 3)
    log(f"[{preset_id}] {folds}-fold cross-validated: MAE {out['preset']['mae']:.4f} vs baseline "
        f"{out['baseline']['mae']:.4f} (x{out['mae_ratio']}), edge x{out['edge_ratio']}")
    return out


def tune_preset(ctx: EvalContext, preset_id: str, budget: int, command: str, seed: int = 0,
                write: bool = True, log=print, tune_on: str = "tune", objective: str = "mae") -> dict:
    """Search, measure and (unless write is False) write the preset. tune_on "tune" searches on the
    tuning split and reports the held-out portraits too; "all" searches on every portrait, so the
    figures are the tuning set's own and there is no held-out figure (the preset file says so)."""
    path = paths.PRESETS_DIR / f"{preset_id}.json"
    scene = SCENE_OF_PRESET[preset_id]
    # With a held-out split the search starts from the defaults only: the shipped values were chosen over
    # draws of the scene that include the held-out portraits, and seeding with them leaked those portraits
    # into the held-out figure. Searching on all portraits (no held-out figure) may start from them.
    chosen, tune_score, tune_base, cons, n = search(ctx, preset_id, budget, seed, log, tune_on=tune_on,
                                                    objective=objective, seed_with_presets=tune_on != "tune")
    settings = load_preset_file(path).apply().replace(model=ctx.model_id, **chosen)
    all_ours, all_base = measure_split(ctx, preset_id, settings, "all")
    held_out = tune_on == "tune"
    if held_out:
        held_ours, held_base = measure_split(ctx, preset_id, settings, "held_out")
    names = [p.name for p in ctx.portraits]
    if held_out:
        split_text = (f"tuned on {len(split(names, 'tune'))} portraits ({', '.join(split(names, 'tune'))}); "
                      f"figures below on all {len(names)} and on the {len(split(names, 'held_out'))} held out")
        provenance_split = f"tuned on {len(split(names, 'tune'))}, {len(split(names, 'held_out'))} held out"
    else:
        cv = cross_validate(ctx, preset_id, budget, seed, log=log, objective=objective)
        split_text = (f"tuned on all {len(names)} portraits: the all_portraits figures are the tuning set's own; "
                      f"cross_validated estimates new faces ({cv['folds']} folds: each portrait scored by values "
                      f"tuned without it, each fold's search starting from the defaults, not the shipped values)")
        provenance_split = (f"tuned on all of them; {cv['folds']}-fold cross-validated MAE {cv['preset']['mae']:.4f} "
                            f"vs {cv['baseline']['mae']:.4f}, x{cv['mae_ratio']}")

    met = targets(all_ours, all_base, scene)
    tuning = {
        "scene": scene, "model": ctx.model_id,
        "objective": OBJECTIVES[objective] + " subject to edge error <= baseline, flicker <= 0.5 x baseline"
                     + (", every person recall >= 0.95" if scene == "multi_person" else "")
                     + (f", IoU loss vs normal light <= 0.03 (live: the last of {LIVE_FRAMES} noisy frames)" if scene == "low_light" else ""),
        "search": f"{n} candidates: the presets' previous values and the defaults, {budget} random draws "
                  f"(seed {seed}) from a coarse grid, one coordinate sweep around the best",
        "split": split_text,
        "baseline": "obs-backgroundremoval default: hard threshold 0.5, EMA 0.85, largest blob only, "
                    "no guided refinement, same model",
        "video_frames": len(ctx.videos[0].frames),
        **({"tuning_split": {"preset": _figures(tune_score), "baseline": _figures(tune_base)}} if held_out else {}),
        "all_portraits": {"preset": _figures(all_ours), "baseline": _figures(all_base)},
        **({"held_out": {"preset": _figures(held_ours), "baseline": _figures(held_base)}} if held_out
           else {"cross_validated": cv}),
        "targets_all_portraits": met,
        "date": _dt.date.today().isoformat(),
        "command": command,
    }
    missed = [k for k, v in met.items() if not v["met"]]
    provenance = (f"Tuned by measurement on the {scene} scene with {ctx.model_id} ({tuning['date']}, "
                  f"`{command}`): MAE {all_ours.mae:.4f} vs the peer baseline's {all_base.mae:.4f} on all "
                  f"{len(names)} portraits ({provenance_split}). "
                  + ("All targets met." if not missed else f"Targets missed: {', '.join(missed)}.")
                  + " Background colour from the project's scene notes (docs/ANCHORS.md).")
    if write:
        write_preset(path, chosen, tuning, provenance)
        log(f"[{preset_id}] wrote {path}")
    if held_out:  # the figure for faces (and backdrops) the search did not see
        persons = (f" worst recall {held_ours.recall_min:.3f} lost {held_ours.persons_lost} (baseline "
                   f"{held_base.persons_lost})" if scene == "multi_person" else "")
        log(f"[{preset_id}] held out: ours MAE {held_ours.mae:.4f} edge {held_ours.edge:.4f} | baseline MAE "
            f"{held_base.mae:.4f} edge {held_base.edge:.4f}{persons}")
    log(f"[{preset_id}] all portraits: ours MAE {all_ours.mae:.4f} edge {all_ours.edge:.4f} flicker "
        f"{all_ours.flicker:.2e} | baseline MAE {all_base.mae:.4f} edge {all_base.edge:.4f} flicker "
        f"{all_base.flicker:.2e}; missed: {missed or 'none'}")
    return tuning


def run_tune(preset_ids: list[str], budget: int, model_id: str, video_frames: int, seed: int = 0,
             write: bool = True, command: str | None = None, log=print, proposed: bool = False,
             tune_on: str = "tune", objective: str = "mae") -> dict[str, dict]:
    command = command or "obs-matting tune " + " ".join(sys.argv[2:] if len(sys.argv) > 2 else [])
    if tune_on == "all" and any(SCENE_OF_PRESET[p] == "multi_person" for p in preset_ids):
        from ..errors import SettingsError
        raise SettingsError("--tune-on all scores each fold on images made only of held-out portraits; every "
                            "multi-person image mixes portraits of several folds, so none would be scored: "
                            "use --tune-on tune (4 portraits held out) for the multi-person preset")
    ctx = EvalContext(model_id, video_frames)
    if proposed:
        return {pid: tune_proposed(ctx, pid, budget, seed, log) for pid in preset_ids}
    return {pid: tune_preset(ctx, pid, budget, command, seed, write, log, tune_on, objective) for pid in preset_ids}


def tune_proposed(ctx: EvalContext, preset_id: str, budget: int, seed: int = 0, log=print) -> dict:
    """What the same search reaches with the refinements of prototype.py (never written to a preset:
    the shipped engine does not have them yet)."""
    from .methods import PROPOSED
    scene = SCENE_OF_PRESET[preset_id]
    chosen, _, _, _, n = search(ctx, preset_id, budget, seed, log, kind=PROPOSED)
    settings = load_preset_file(paths.PRESETS_DIR / f"{preset_id}.json").apply() \
        .replace(model=ctx.model_id, **chosen)
    samples = build_split(scene, ctx.portraits, "all")
    tset = ctx.temporal(scene)
    ours, _ = score_method(Method(preset_id, settings, PROPOSED), ctx.matter, samples, tset)
    base, _ = score_method(Method(BASELINE, None), ctx.matter, samples, tset)
    met = targets(ours, base, scene)
    log(f"[{preset_id}] PROPOSED refinement, all portraits: MAE {ours.mae:.4f} edge {ours.edge:.4f} flicker "
        f"{ours.flicker:.5f} | baseline MAE {base.mae:.4f} edge {base.edge:.4f} flicker {base.flicker:.5f}; "
        f"targets {json.dumps(met)}")
    return {"values": chosen, "preset": _figures(ours), "baseline": _figures(base), "targets": met}
