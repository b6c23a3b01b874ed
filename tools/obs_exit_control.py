"""Control experiment for exit crashes: start and stop real OBS (headless) N times with a looping media
source, with or without our script and filter, with or without the source's volume meter in the mixer,
under optional CPU load, and count the exits that were not clean (exit code != 0, or killed after a hang).

    .venv/bin/python tools/obs_exit_control.py --runs 12 --load                      # OBS alone
    .venv/bin/python tools/obs_exit_control.py --runs 12 --load --mixer-hidden
    .venv/bin/python tools/obs_exit_control.py --runs 12 --load --mixer-hidden --with-filter

It is how the project told OBS 29.0.2's own exit crash (a media source's volume meter torn down under
load) from ours; see the media_source fixture in tests/obs/conftest.py.
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
from obsmatte import paths  # noqa: E402
from obsmatte.obs.headless import HeadlessObs, SourceSpec  # noqa: E402

VIDEO = paths.SHARED_DIR / "eval" / "video" / "pose_1_576_30fps.mp4"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=4.0, help="how long OBS runs before SIGINT")
    ap.add_argument("--with-filter", action="store_true", help="load obs_matting.py, filter on the source")
    ap.add_argument("--mixer-hidden", action="store_true", help="hide the source from the audio mixer")
    ap.add_argument("--load", action="store_true", help="two busy processes, like a busy 2-core machine")
    args = ap.parse_args()
    logging.getLogger("obsws_python").setLevel(logging.CRITICAL)
    if not VIDEO.is_file():
        raise SystemExit(f"missing {VIDEO}: needs the shared folder beside the project")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)] if args.load else []
    codes = []
    try:
        with tempfile.TemporaryDirectory(prefix="obs-exit-") as tmp:
            for run in range(args.runs):
                work = Path(tmp) / f"run{run}"
                work.mkdir()
                filters = [{"id": "obs_matting_filter", "name": "Matting", "settings": {}}] if args.with_filter else []
                source = SourceSpec("Video", "ffmpeg_source",
                                    {"local_file": str(VIDEO), "is_local_file": True, "looping": True},
                                    filters, private_settings={"mixer_hidden": True} if args.mixer_hidden else {})
                obs = HeadlessObs(work, [source], ROOT / "obs_matting.py" if args.with_filter else None).start()
                time.sleep(args.seconds)
                code = obs.stop()
                codes.append("hang" if obs.killed else code)
                print(f"run {run}: exit {codes[-1]}", flush=True)
    finally:
        for h in hogs:
            h.kill()
    bad = sum(1 for c in codes if c != 0)
    print(f"{bad} of {len(codes)} exits not clean (filter={'yes' if args.with_filter else 'no'}, "
          f"mixer={'hidden' if args.mixer_hidden else 'shown'}, load={'yes' if args.load else 'no'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
