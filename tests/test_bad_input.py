"""Bad input on the command line loses nothing: tiny images, a file that breaks the pipeline in a batch, a
broken user preset, a JPEG with data after its end, a video shorter than its header says. Real CLI runs
with the shipped default model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from obsmatte import compose

from conftest import need_shared


def run_cli(*args, user_dir: Path, timeout=300):
    env = dict(os.environ, OBSMATTE_USER_DIR=str(user_dir))
    return subprocess.run([sys.executable, "-m", "obsmatte", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def portrait():
    return need_shared("eval", "stills", "portrait.jpg")


@pytest.mark.parametrize("shape", [(1, 500), (500, 1), (1, 1), (2, 3)])
def test_a_tiny_image_is_matted_not_a_traceback(tmp_path, shape):
    """Two pixels or fewer across: the guide's noise estimate had no interior and OpenCV asserted."""
    src = tmp_path / "tiny.png"
    cv2.imwrite(str(src), np.full((*shape, 3), 120, np.uint8))
    p = run_cli("image", src, tmp_path / "out.png", user_dir=tmp_path / "user")
    assert p.returncode == 0, p.stderr
    assert cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED).shape == (*shape, 4)


def test_batch_goes_on_past_a_file_that_fails_and_counts_only_images(tmp_path, portrait):
    """Every readable image is written and every bad one reported, whatever fails; the summary counts the
    images written, not the alpha files (nor an input whose name ends in _alpha)."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    good = cv2.imread(str(portrait))
    small = cv2.resize(good, (160, 200), interpolation=cv2.INTER_AREA)
    for name in ("a.jpg", "c.jpg", "shot_alpha.jpg"):
        cv2.imwrite(str(src / name), small)
    (src / "d.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    p = run_cli("batch", src, out, "--save-alpha", user_dir=tmp_path / "user")
    assert p.returncode == 4, p.stderr  # some written, some skipped
    assert "batch done: 3 written, 1 skipped" in p.stdout, p.stdout
    assert "d.jpg" in p.stdout and "Traceback" not in p.stderr
    written = sorted(f.name for f in out.iterdir())
    assert written == ["a.png", "a_alpha.png", "c.png", "c_alpha.png", "shot_alpha.png", "shot_alpha_alpha.png"]


def test_batch_reports_an_unexpected_failure_and_goes_on(tmp_path, portrait, monkeypatch):
    """A failure that is not one of ours (a bug, an OpenCV assertion) skips that file only."""
    from obsmatte import cli, commands
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    small = cv2.resize(cv2.imread(str(portrait)), (160, 200), interpolation=cv2.INTER_AREA)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        cv2.imwrite(str(src / name), small)
    real = commands._matte_one

    def breaks_on_b(rgb, *rest):
        if breaks_on_b.calls == 1:
            breaks_on_b.calls += 1
            raise cv2.error("a stand-in for an OpenCV assertion")
        breaks_on_b.calls += 1
        return real(rgb, *rest)
    breaks_on_b.calls = 0
    monkeypatch.setattr(commands, "_matte_one", breaks_on_b)
    monkeypatch.setenv("OBSMATTE_USER_DIR", str(tmp_path / "user"))
    code = cli.main(["batch", str(src), str(out)])
    assert code == 4, "b.jpg was skipped"
    assert sorted(f.name for f in out.iterdir()) == ["a.png", "c.png"]


def test_a_broken_user_preset_does_not_block_the_others(tmp_path, portrait):
    user = tmp_path / "user"
    (user / "presets").mkdir(parents=True)
    (user / "presets" / "broken.json").write_text("{bad", encoding="utf-8")
    p = run_cli("image", portrait, tmp_path / "o.png", "--preset", "studio", user_dir=user)
    assert p.returncode == 0, p.stderr
    p = run_cli("image", portrait, tmp_path / "o.png", "--preset", "nosuch", user_dir=user)
    assert p.returncode != 0 and "unknown preset 'nosuch'" in p.stderr and "broken.json" in p.stderr, p.stderr


def test_a_jpeg_with_data_after_its_end_is_read_and_a_cut_one_refused(tmp_path, portrait):
    """Data after the image (a phone's motion photo appends a video) may itself hold FFDA: the end is found
    by walking the JPEG's own segments. A cut file is still refused with the reason, progressive and
    restart-marker files included."""
    data = portrait.read_bytes()
    trailer = tmp_path / "motion.jpg"
    trailer.write_bytes(data + b"\x00\x00\x00\x18ftypmp42" + b"\xff\xda\x00\x0c" + bytes(range(256)) * 4)
    p = run_cli("image", trailer, tmp_path / "o.png", user_dir=tmp_path / "user")
    assert p.returncode == 0, p.stderr
    rgb = cv2.imread(str(portrait))
    for params in ([], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], [cv2.IMWRITE_JPEG_RST_INTERVAL, 4]):
        encoded = cv2.imencode(".jpg", rgb, params)[1].tobytes()
        assert compose._truncation("JPEG", encoded) is None
        assert compose._truncation("JPEG", encoded + b"\xff\xda\x00\x08junk") is None
        assert "truncated" in compose._truncation("JPEG", encoded[: len(encoded) * 9 // 10])
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    p = run_cli("image", cut, tmp_path / "o2.png", user_dir=tmp_path / "user")
    assert p.returncode != 0 and "truncated" in p.stderr, p.stderr


def test_a_video_shorter_than_its_header_says_is_written_with_a_warning(tmp_path, portrait):
    """An AVI cut short keeps its header's frame count: the frames there are written, and the command says
    how many of the announced ones it found."""
    need_shared("eval", "stills", "portrait.jpg")
    frame = cv2.resize(cv2.imread(str(portrait)), (160, 192), interpolation=cv2.INTER_AREA)
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 192))
    for k in range(40):
        writer.write(np.roll(frame, k, axis=1))
    writer.release()
    whole = run_cli("video", full, tmp_path / "whole.mp4", user_dir=tmp_path / "user")
    assert whole.returncode == 0 and "warning" not in whole.stderr, whole.stderr
    data = full.read_bytes()
    half = tmp_path / "half.avi"
    half.write_bytes(data[: len(data) // 2])
    p = run_cli("video", half, tmp_path / "half.mp4", user_dir=tmp_path / "user")
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "of the 40 frames its header announces" in p.stderr, p.stderr


def test_a_format_that_contradicts_the_output_name_is_refused(tmp_path, portrait):
    p = run_cli("image", portrait, tmp_path / "out.png", "--format", "jpg", user_dir=tmp_path / "user")
    assert p.returncode == 2 and "the name says PNG but the format asked for is JPG" in p.stderr, p.stderr
    assert not (tmp_path / "out.png").exists()
    p = run_cli("image", portrait, tmp_path / "out.jpg", user_dir=tmp_path / "user")
    assert p.returncode == 0 and ", RGB," in p.stdout, p.stdout  # flattened: no alpha in a JPEG


@pytest.mark.parametrize("flag, value", [("--softness", "nan"), ("--threshold", "inf"), ("--feather", "-inf")])
def test_a_non_finite_setting_is_refused_in_one_line(tmp_path, flag, value):
    """argparse's float() takes 'nan', and NaN passes every range check: the matte came out empty."""
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.full((8, 8, 3), 120, np.uint8))
    p = run_cli("image", src, tmp_path / "out.png", f"{flag}={value}", user_dir=tmp_path / "user")
    key = flag[2:]
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == f"obs-matting: error: '{key}' must be a finite number, got {float(value)!r}", p.stderr
    assert not (tmp_path / "out.png").exists()
