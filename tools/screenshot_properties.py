"""Takes the README's screenshot of the filter's properties from a real, headless OBS: starts OBS under
Xvfb with the filter on a portrait, opens the source's Filters dialog over obs-websocket and grabs the
virtual screen with mss.

    .venv/bin/python tools/screenshot_properties.py [--out docs/screenshots/filter_properties.png]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
from obsmatte import paths  # noqa: E402
from obsmatte.obs.headless import HeadlessObs, SourceSpec  # noqa: E402

PORTRAIT = paths.SHARED_DIR / "eval" / "portraits" / "image" / "p_09ba26b4.jpg"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "filter_properties.png")
    ap.add_argument("--preset", default="studio")
    args = ap.parse_args()
    logging.getLogger("obsws_python").setLevel(logging.CRITICAL)
    import mss
    with tempfile.TemporaryDirectory(prefix="obs-props-") as tmp:
        work = Path(tmp)
        image = work / "portrait.png"
        cv2.imwrite(str(image), cv2.resize(cv2.imread(str(PORTRAIT)), (1280, 720), interpolation=cv2.INTER_AREA))
        source = SourceSpec("Webcam", "image_source", {"file": str(image), "unload": False},
                            [{"id": "obs_matting_filter", "name": "AI Background Matting",
                              "settings": {"preset": args.preset}}])
        obs = HeadlessObs(work, [source], ROOT / "obs_matting.py", size=(1600, 1000)).start()
        try:
            client = obs.client()
            time.sleep(4)  # model loaded, masks flowing: the status line has figures
            client.open_input_filters_dialog("Webcam")
            time.sleep(3)
            os.environ["DISPLAY"] = f":{obs.display}"
            with (getattr(mss, "MSS", None) or mss.mss)() as grab:
                shot = np.asarray(grab.grab(grab.monitors[1]))
        finally:
            obs.stop()
    bgr = cv2.cvtColor(shot, cv2.COLOR_BGRA2BGR)
    ys, xs = np.nonzero(bgr.max(axis=2) > 0)  # OBS's windows; the rest of the X screen is black
    if len(xs):
        bgr = bgr[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), bgr)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
