"""Shared fixtures. Tests that need ../shared (reference models, evaluation data) or a program (OBS, Xvfb, gdb)
skip with a clear reason when it is missing; with CI set (.ci/run sets it) they fail instead."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from obsmatte import paths

SHARED = paths.SHARED_DIR
SHARED_MODELS = SHARED / "models"
EVAL = SHARED / "eval"
MISSING_SHARED = f"needs the shared folder beside the project ({SHARED}): reference models and eval data"


def need_tool(*programs: str, why: str) -> None:
    """Skip where a program the test runs is missing (a developer's machine); in CI, where setup.sh --test
    installs them all, fail instead, so a missing OBS cannot turn its tests into quiet skips."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        message = f"needs {', '.join(missing)} ({why})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def need_shared(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING_SHARED}; missing {p}")
        pytest.skip(f"{MISSING_SHARED}; missing {p}")
    return p


@pytest.fixture(scope="session")
def shared_models_dir() -> Path:
    return need_shared("models")


@pytest.fixture(scope="session")
def portraits() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The 12 evaluation portraits: (name, RGB uint8, alpha float32 in [0, 1])."""
    img_dir = need_shared("eval", "portraits", "image")
    out = []
    for f in sorted(img_dir.glob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        a = cv2.imread(str(f.parent.parent / "alpha" / (f.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        out.append((f.stem, rgb, a.astype(np.float32) / 255.0))
    assert len(out) == 12, f"expected 12 portraits in {img_dir}, found {len(out)}"
    return out


def iou(pred: np.ndarray, truth: np.ndarray, level: float = 0.5) -> float:
    p, t = pred >= level, truth >= level
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """An OBS that crashed or hung in a test is explained once more at the very end of the output, where a CI
    log is read from (the backtrace last)."""
    from obsmatte.obs.headless import CRASH_REPORTS
    for report in CRASH_REPORTS:
        terminalreporter.section("OBS did not exit cleanly", sep="=")
        terminalreporter.write_line(report)
