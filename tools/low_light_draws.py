"""tools/scene_draws.py for the low-light scene (the name earlier figures were recorded with).

    PYTHONPATH=lib .venv/bin/python tools/low_light_draws.py [--model M] [--draws N] "shipped" ...
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scene_draws import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(scene="low_light"))
