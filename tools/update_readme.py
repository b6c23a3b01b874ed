"""Regenerates the generated parts of README.md from the code, so the docs cannot drift:
the knob table (from settings.FIELDS) and the preset table (from presets/*.json).

    .venv/bin/python tools/update_readme.py          # rewrite README.md in place
    .venv/bin/python tools/update_readme.py --check  # exit 1 if README.md is out of date (used by a test)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

from obsmatte.presets import load_presets  # noqa: E402
from obsmatte.settings import FIELDS  # noqa: E402

GROUPS = {"model": "Model", "mask": "Mask", "background": "Background", "timing": "Timing"}


def knob_table() -> str:
    rows = ["| group | setting (CLI flag) | range / choices | default | what it does |", "|---|---|---|---|---|"]
    for f in FIELDS:
        if f.choices:
            rng = " / ".join(f.choices)
        elif f.minimum is not None:
            rng = f"{f.minimum:g} – {f.maximum:g}"
        else:
            rng = {"bool": "on / off", "color": "#RRGGBB", "path": "file", "str": "model id"}.get(f.kind, f.kind)
        default = {True: "on", False: "off"}.get(f.default, f.default) if f.kind == "bool" else f.default
        rows.append(f"| {GROUPS[f.group]} | {f.label} (`--{f.key.replace('_', '-')}`) | {rng} | "
                    f"{default if default != '' else '—'} | {f.help}{' Restarts the model.' if f.restarts_worker else ''} |")
    return "\n".join(rows)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value) or "—"


def preset_table() -> str:
    presets = load_presets(user_dir=Path("/nonexistent"))
    keys = ["model", "second_model", "gpu_model", "mirror_pass", "wide_tiles", "subject_zoom", "zoom_margin", "threshold", "softness", "erode", "feather", "feather_mode", "temporal_smoothing",
            "min_person_area", "low_light_boost", "low_light_denoise", "background", "background_color"]
    rows = ["| preset | for | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for p in presets.values():
        vals = p.apply()
        rows.append(f"| **{p.name}** (`{p.id}`) | {p.description} | " +
                    " | ".join(_cell(getattr(vals, k)) for k in keys) + " |")
    return "\n".join(rows)


def render(text: str) -> str:
    for name, body in (("KNOBS", knob_table()), ("PRESETS", preset_table())):
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- BEGIN {name} --> ... <!-- END {name} --> block")
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main() -> int:
    readme = ROOT / "README.md"
    old = readme.read_text(encoding="utf-8")
    new = render(old)
    if "--check" in sys.argv:
        if new != old:
            print("README.md is out of date: run .venv/bin/python tools/update_readme.py")
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
