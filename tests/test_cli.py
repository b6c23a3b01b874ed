"""The command line end to end on real images and videos with the shipped default model."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from obsmatte import paths

from conftest import iou, need_shared, need_tool


@pytest.fixture(scope="module", autouse=True)
def user_dir(tmp_path_factory):
    """An empty user folder of this run's own for every command here (the screen tests' too): a user
    preset or model left by an earlier run, or the developer's own, would override the shipped ones."""
    folder = tmp_path_factory.mktemp("obsmatte-user")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OBSMATTE_USER_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def x_display():
    """A private 640x480 X server for the screen commands, started directly: xvfb-run's own clean-up of its
    temporary folder failed now and then and turned the command's right exit code into its own 5."""
    need_tool("Xvfb", why="./setup.sh --test installs it")
    from obsmatte.obs.headless import start_xvfb
    proc, display = start_xvfb(640, 480)
    try:
        yield f":{display}"
    finally:
        proc.terminate()
        proc.wait(10)


def on_screen(display: str, *args, timeout=120):
    """Python with `args` on the X display (the command line's screen commands)."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, DISPLAY=display))


def run_cli(*args, env_extra=None, check=None, timeout=300):
    env = dict(os.environ)
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-m", "obsmatte", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def portrait_files():
    img_dir = need_shared("eval", "portraits", "image")
    return sorted(img_dir.glob("*.jpg"))


def test_image_png_is_rgba_with_the_matte_in_alpha(tmp_path, portrait_files):
    src = portrait_files[0]
    out = tmp_path / "out.png"
    run_cli("image", src, out, "--save-alpha", check=0)
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4
    truth = cv2.imread(str(src.parent.parent / "alpha" / (src.stem + ".png")), cv2.IMREAD_GRAYSCALE)
    assert rgba.shape[:2] == truth.shape
    assert iou(rgba[:, :, 3] / 255.0, truth / 255.0) > 0.8
    alpha_file = tmp_path / "out_alpha.png"
    assert np.array_equal(cv2.imread(str(alpha_file), cv2.IMREAD_GRAYSCALE), rgba[:, :, 3])


def test_jpeg_output_is_flattened_onto_the_colour(tmp_path, portrait_files):
    out = tmp_path / "out.jpg"
    run_cli("image", portrait_files[1], out, "--color", "#FF0000", check=0)
    bgr = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert bgr.ndim == 3 and bgr.shape[2] == 3
    corner = bgr[:15, :15].reshape(-1, 3).mean(0)  # background corner: red (BGR order)
    assert corner[2] > 200 and corner[0] < 60 and corner[1] < 60


def _truth(src: Path) -> np.ndarray:
    return cv2.imread(str(src.parent.parent / "alpha" / (src.stem + ".png")), cv2.IMREAD_GRAYSCALE)


def _sure(truth: np.ndarray, value: int) -> np.ndarray:
    """Where the true alpha is `value` (0 or 255) well away from the edge, so the matte's edge cannot decide."""
    return cv2.erode((truth == value).astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)


def test_background_image_replaces_the_background(tmp_path, portrait_files):
    src = portrait_files[0]
    rgb = cv2.imread(str(src))
    h, w = rgb.shape[:2]
    # the frame's own size (fill = no resize) and a pattern no single colour or blur can imitate
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.dstack([xx * 255 // w, yy * 255 // h, ((xx // 40 + yy // 40) % 2) * 255]).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "bg.png"), bg)
    out = tmp_path / "out.png"
    run_cli("image", src, out, "--background", "image", "--background-image", tmp_path / "bg.png", check=0)
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (h, w, 3), "an image background is opaque: plain RGB at the input's size"
    truth = _truth(src)
    near = np.abs(img.astype(int) - bg).max(axis=2) <= 2
    assert near[_sure(truth, 0)].mean() > 0.95, "the background is the image"
    kept = np.abs(img.astype(int) - rgb).max(axis=2) <= 2
    assert kept[_sure(truth, 255)].mean() > 0.95, "the person is the input's own pixels"


def test_background_image_without_a_file_is_a_clear_error(tmp_path, portrait_files):
    p = run_cli("image", portrait_files[0], tmp_path / "o.png", "--background", "image", check=2)
    assert "--background-image" in p.stderr, p.stderr
    assert p.stderr.strip().count("\n") == 0, "one line, no traceback"
    assert not (tmp_path / "o.png").exists()


def test_format_jpg_writes_jpeg_whatever_the_name(tmp_path, portrait_files):
    out = tmp_path / "matte"  # no extension: the format comes from --format alone
    run_cli("image", portrait_files[1], out, "--format", "jpg", check=0)
    assert out.read_bytes()[:3] == b"\xff\xd8\xff", "JPEG data (SOI marker)"
    bgr = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert bgr.ndim == 3 and bgr.shape[2] == 3
    corner = bgr[:15, :15].reshape(-1, 3).mean(0)  # flattened onto the default colour, green (BGR order)
    assert corner[1] > 200 and corner[0] < 60 and corner[2] < 60, corner


def test_preset_and_flags_apply(tmp_path, portrait_files):
    out = tmp_path / "studio.png"
    run_cli("image", portrait_files[2], out, "--preset", "studio", "--background", "color", check=0)
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape[2] == 3, "a colour background is opaque: plain RGB"
    assert img[:10, :10].mean() < 30  # studio's colour is black


@pytest.mark.parametrize("make, expect", [
    (lambda d: d / "missing.jpg", "not found"),
    (lambda d: (d / "empty.png").write_bytes(b"") or d / "empty.png", "empty"),
    (lambda d: (d / "text.png").write_text("hello") or d / "text.png", "cannot read image"),
    (lambda d: (d / "doc.txt").write_text("hello") or d / "doc.txt", "unsupported"),
])
def test_bad_inputs_give_one_line_errors(tmp_path, make, expect):
    src = make(tmp_path)
    p = run_cli("image", src, tmp_path / "o.png", check=2)
    assert expect in p.stderr.lower(), p.stderr
    assert p.stderr.strip().count("\n") == 0, "one line, no traceback"
    assert not (tmp_path / "o.png").exists()


def test_truncated_jpeg_is_reported(tmp_path, portrait_files):
    data = portrait_files[0].read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(data[: len(data) // 3])
    p = run_cli("image", bad, tmp_path / "o.png")
    assert p.returncode == 2 and "cannot read image" in p.stderr.lower(), p.stderr


def test_output_over_input_and_bad_output_format_refused(tmp_path, portrait_files):
    src = tmp_path / "me.png"
    shutil.copy(portrait_files[0], tmp_path / "me.jpg")
    cv2.imwrite(str(src), cv2.imread(str(tmp_path / "me.jpg")))
    before = src.read_bytes()
    p = run_cli("image", src, src, check=2)
    assert "overwrite" in p.stderr
    assert src.read_bytes() == before
    p = run_cli("image", src, tmp_path / "o.gif", check=2)
    assert "unsupported output format" in p.stderr


def test_invalid_preset_file_names_file_and_field(tmp_path, portrait_files):
    preset = tmp_path / "mine.json"
    preset.write_text('{"name": "Mine", "settings": {"erode": "lots"}}')
    p = run_cli("image", portrait_files[0], tmp_path / "o.png", "--preset", preset, check=2)
    assert str(preset) in p.stderr and "settings.erode" in p.stderr


def test_missing_and_corrupt_model_files(tmp_path, portrait_files):
    env = {"OBSMATTE_MODEL_PATH": str(tmp_path / "models"), "OBSMATTE_USER_DIR": str(tmp_path / "user")}
    p = run_cli("image", portrait_files[0], tmp_path / "o.png", "--model", "rvm_mobilenetv3", env_extra=env, check=2)
    assert "not found" in p.stderr and "rvm_mobilenetv3_fp32.onnx" in p.stderr
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "rvm_mobilenetv3_fp32.onnx").write_bytes(b"\x08\x01garbage" * 100)
    p = run_cli("image", portrait_files[0], tmp_path / "o.png", "--model", "rvm_mobilenetv3", env_extra=env, check=2)
    assert "corrupt" in p.stderr, p.stderr


def test_batch_skips_bad_files_and_never_overwrites(tmp_path, portrait_files):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(portrait_files[0], src / "a.jpg")
    cv2.imwrite(str(src / "a.png"), cv2.imread(str(portrait_files[1])))  # same stem, other format
    (src / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")  # an existing file in the output folder
    p = run_cli("batch", src, out, "--zip", check=4)  # 4: some files were skipped
    assert "2 written, 1 skipped" in p.stdout, p.stdout + p.stderr
    assert "broken.jpg" in p.stdout
    assert (out / "a.png").read_bytes() == b"keep me"
    written = sorted(f.name for f in out.glob("a-*.png"))
    assert written == ["a-2.png", "a-3.png"]
    zips = list(out.glob("*.zip"))
    assert len(zips) == 1 and sorted(zipfile.ZipFile(zips[0]).namelist()) == written
    # output folder = input folder: results get a suffix, inputs stay untouched
    before = {f.name: f.read_bytes() for f in src.iterdir()}
    run_cli("batch", src, src, check=4)
    assert all((src / n).read_bytes() == b for n, b in before.items())
    assert (src / "a_matte.png").exists()


def test_batch_save_alpha_and_jpeg(tmp_path, portrait_files):
    src = tmp_path / "in"
    src.mkdir()
    for f in portrait_files[:2]:
        shutil.copy(f, src / f.name)
    stems = [f.stem for f in portrait_files[:2]]
    p = run_cli("batch", src, tmp_path / "png", "--save-alpha", check=0)
    assert "2 written, 0 skipped" in p.stdout, p.stdout + p.stderr  # the mattes count, not their alpha files
    assert sorted(f.name for f in (tmp_path / "png").iterdir()) == sorted(
        [f"{s}.png" for s in stems] + [f"{s}_alpha.png" for s in stems])
    for stem, f in zip(stems, portrait_files):
        rgba = cv2.imread(str(tmp_path / "png" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        alpha = cv2.imread(str(tmp_path / "png" / f"{stem}_alpha.png"), cv2.IMREAD_UNCHANGED)
        assert alpha.ndim == 2, "the matte alone: one grey channel"
        assert np.array_equal(alpha, rgba[:, :, 3]), "the same matte as the PNG's alpha, bit for bit"
        # the person's matte (an empty or inverted one scores near 0; the second portrait is a hard one, ~0.67)
        assert iou(alpha / 255.0, _truth(f) / 255.0) > 0.5

    run_cli("batch", src, tmp_path / "jpg", "--format", "jpg", "--save-alpha", check=0)
    for stem in stems:
        out = tmp_path / "jpg" / f"{stem}.jpg"
        assert out.read_bytes()[:3] == b"\xff\xd8\xff", "JPEG data (SOI marker)"
        assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape[2] == 3, "JPEG has no alpha: flattened"
        # a JPEG cannot carry the matte, so it still comes as a PNG, the same one
        alpha = tmp_path / "jpg" / f"{stem}_alpha.png"
        assert alpha.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert np.array_equal(cv2.imread(str(alpha), cv2.IMREAD_UNCHANGED),
                              cv2.imread(str(tmp_path / "png" / f"{stem}_alpha.png"), cv2.IMREAD_UNCHANGED))


def _small_copies(folder: Path, portrait_files, names) -> None:
    """A different real portrait, at a small size (quick to matte), under each name."""
    folder.mkdir(exist_ok=True)
    for name, src in zip(names, portrait_files):
        small = cv2.resize(cv2.imread(str(src)), (160, 200), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / name), small)


def _alpha_of(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, 3]


def test_batch_gives_an_image_and_its_alpha_one_name_and_says_which_was_renamed(tmp_path, portrait_files):
    """a.jpg and a.png both want a.png: the second becomes a-2.png with a-2_alpha.png (not a_alpha-2.png beside
    an a_alpha.png that looks like a.png's); an existing b_alpha.png moves b's image and alpha alike."""
    src, out = tmp_path / "in", tmp_path / "out"
    _small_copies(src, portrait_files, ["a.jpg", "a.png", "b.jpg"])
    out.mkdir()
    (out / "b_alpha.png").write_bytes(b"keep me")
    p = run_cli("batch", src, out, "--save-alpha", check=0)
    assert "3 written, 0 skipped" in p.stdout, p.stdout + p.stderr
    assert sorted(f.name for f in out.iterdir()) == [
        "a-2.png", "a-2_alpha.png", "a.png", "a_alpha.png", "b-2.png", "b-2_alpha.png", "b_alpha.png"]
    for image, alpha in (("a", "a_alpha"), ("a-2", "a-2_alpha"), ("b-2", "b-2_alpha")):
        assert np.array_equal(_alpha_of(out / f"{image}.png"), cv2.imread(str(out / f"{alpha}.png"), 0)), image
    assert not np.array_equal(_alpha_of(out / "a.png"), _alpha_of(out / "a-2.png")), "two different portraits"
    assert (out / "b_alpha.png").read_bytes() == b"keep me"
    assert "  a.png -> a-2.png, a-2_alpha.png\n" in p.stdout, p.stdout
    assert "  b.jpg -> b-2.png, b-2_alpha.png\n" in p.stdout, p.stdout
    assert "a.jpg ->" not in p.stdout, "a name that did not change is not listed"


def test_batch_into_its_own_folder_again_skips_the_earlier_outputs(tmp_path, portrait_files):
    """Run twice into the input folder: the second run mattes the inputs again (a_matte-2.png), never an
    earlier run's a_matte.png or a_matte_alpha.png (into a_matte_matte.png), and says why it skipped them."""
    src = tmp_path / "in"
    _small_copies(src, portrait_files, ["a.jpg"])
    run_cli("batch", src, src, "--save-alpha", check=0)
    assert sorted(f.name for f in src.iterdir()) == ["a.jpg", "a_matte.png", "a_matte_alpha.png"]
    p = run_cli("batch", src, src, "--save-alpha", check=4)  # skipped files make the exit code non-zero
    assert sorted(f.name for f in src.iterdir()) == [
        "a.jpg", "a_matte-2.png", "a_matte-2_alpha.png", "a_matte.png", "a_matte_alpha.png"]
    assert "1 written, 2 skipped" in p.stdout, p.stdout
    for name in ("a_matte.png", "a_matte_alpha.png"):
        assert re.search(rf"^  skipped {name}: .*output of an earlier batch into this folder", p.stdout, re.M), \
            p.stdout
    assert "  a.jpg -> a_matte-2.png, a_matte-2_alpha.png\n" in p.stdout, p.stdout
    p = run_cli("batch", src, src, check=4)  # a third run: a_matte-2.png is an earlier output as well
    assert "1 written, 4 skipped" in p.stdout and (src / "a_matte-3.png").exists(), p.stdout


def test_batch_exit_code_says_whether_files_were_skipped(tmp_path, portrait_files):
    """0: all written; 4: some skipped; 3: none written (README's Command line section lists the codes)."""
    src = tmp_path / "in"
    _small_copies(src, portrait_files, ["a.jpg"])
    run_cli("batch", src, tmp_path / "all", check=0)
    (src / "notes.txt").write_text("not an image")
    p = run_cli("batch", src, tmp_path / "some", check=4)
    assert "1 written, 1 skipped" in p.stdout, p.stdout
    (src / "a.jpg").unlink()
    p = run_cli("batch", src, tmp_path / "none", check=3)
    assert "0 written, 1 skipped" in p.stdout, p.stdout


def test_batch_of_unreadable_folder(tmp_path):
    p = run_cli("batch", tmp_path / "nope", tmp_path / "out", check=2)
    assert "not found" in p.stderr


def test_video_to_png_sequence_keeps_alpha_and_to_mp4(tmp_path):
    video = need_shared("eval", "video", "pose_1_576_30fps.mp4")
    run_cli("video", video, tmp_path / "seq", "--max-frames", "8", check=0)
    frames = sorted((tmp_path / "seq").glob("*.png"))
    assert len(frames) == 8
    a = cv2.imread(str(frames[-1]), cv2.IMREAD_UNCHANGED)
    assert a.shape[2] == 4 and a[:, :, 3].min() == 0 and a[:, :, 3].max() == 255
    run_cli("video", video, tmp_path / "out.mp4", "--max-frames", "8", "--background", "blur", check=0)
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def _small_video(path: Path, portrait: Path, frames: int) -> Path:
    frame = cv2.resize(cv2.imread(str(portrait)), (160, 192), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 192))
    for k in range(frames):
        writer.write(np.roll(frame, 4 * k, axis=1))
    writer.release()
    return path


def test_video_into_a_folder_with_frames_or_onto_a_file_is_refused(tmp_path, portrait_files):
    """A second, shorter run into the same PNG folder would leave the first run's later frames in the sequence:
    refused, the frames untouched. An existing file where the folder should go: an error, not a traceback."""
    video = _small_video(tmp_path / "clip.avi", portrait_files[0], 6)
    seq = tmp_path / "frames"
    run_cli("video", video, seq, check=0)
    before = {f.name: f.read_bytes() for f in seq.iterdir()}
    assert len(before) == 6
    p = run_cli("video", video, seq, "--max-frames", "3", check=2)
    assert "already holds frame_*.png" in p.stderr and "delete them or name another folder" in p.stderr, p.stderr
    assert p.stderr.strip().count("\n") == 0, "one line, no traceback"
    assert {f.name: f.read_bytes() for f in seq.iterdir()} == before
    blocker = tmp_path / "notes"
    blocker.write_text("my notes")
    p = run_cli("video", video, blocker, check=2)
    assert "it is a file, not a folder" in p.stderr and p.stderr.strip().count("\n") == 0, p.stderr
    assert blocker.read_text() == "my notes"


def test_screen_region_written_to_a_file(x_display):
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"obsmatte-screen-{os.getpid()}.avi"
    p = on_screen(x_display, "-m", "obsmatte", "screen", "--region", "0,0,320,240", "--seconds", "2", "--out", out)
    assert p.returncode == 0, p.stderr
    assert "frames in" in p.stdout
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) >= 2
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (320, 240)
    out.unlink()


def test_screen_region_is_checked_against_every_monitor_together():
    """mss's monitors[0] is the box around all monitors; a region must lie inside it. Plain dicts: no display."""
    from obsmatte.commands import _check_region_on_screen
    from obsmatte.errors import MattingError
    screen = {"left": -1920, "top": 0, "width": 3840, "height": 1080}  # a second monitor left of the primary
    for inside in ((-1920, 0, 3840, 1080), (-100, 10, 200, 100), (1820, 980, 100, 100)):
        _check_region_on_screen(dict(zip(("left", "top", "width", "height"), inside)), screen)
    for outside in ((-1921, 0, 10, 10), (0, -1, 10, 10), (1911, 0, 10, 10), (0, 1071, 10, 10)):
        region = dict(zip(("left", "top", "width", "height"), outside))
        with pytest.raises(MattingError) as info:
            _check_region_on_screen(region, screen)
        message = str(info.value)
        assert "reaches outside the screen" in message and "3840x1080 from -1920,0 to 1920,1080" in message
        assert "\n" not in message


def test_a_failed_grab_is_a_one_line_error():
    """What mss raises while grabbing (its ScreenShotError; X11 adds lines of request details) -> MattingError."""
    import mss
    from obsmatte.commands import _grab
    from obsmatte.errors import MattingError

    class Unplugged:
        def grab(self, region):
            raise mss.ScreenShotError("X11 Protocol Error\nX Error of failed request: 8\n  Major opcode: 73")

    with pytest.raises(MattingError) as info:
        _grab(Unplugged(), {"left": 0, "top": 0, "width": 8, "height": 8}, (mss.ScreenShotError,))
    assert str(info.value) == "cannot capture the screen region 0,0,8,8: X11 Protocol Error"


def test_a_video_file_that_got_no_frames_is_removed(tmp_path):
    from obsmatte.commands import _FrameSink
    from obsmatte.settings import MatteSettings
    sink = _FrameSink(tmp_path / "out.avi", 10, (32, 32), MatteSettings())
    assert (tmp_path / "out.avi").exists()
    sink.close()
    assert not (tmp_path / "out.avi").exists(), "a file with no frames only looks like a broken video"


def test_screen_region_outside_the_screen_is_refused_before_the_output_opens(tmp_path, x_display):
    """On a real X server (640x480): exit 2 with one line naming the screen's extent, no output file left; and
    the X server's own refusal of such a grab (XProtoError) becomes the same kind of one-line error."""
    out = tmp_path / "screen.avi"
    for region in ("--region=600,400,100,100", "--region=-10,0,100,100"):
        p = on_screen(x_display, "-m", "obsmatte", "screen", region, "--seconds", "1", "--out", out)
        assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        assert "reaches outside the screen, which spans 640x480 from 0,0" in p.stderr, p.stderr
        assert p.stderr.strip().count("\n") == 0, "one line, no traceback"
        assert not out.exists()
    grab_outside = ("import mss; from obsmatte import commands, errors\n"
                    "g, region = commands._open_grabber(mss), dict(left=600, top=400, width=100, height=100)\n"
                    "try: commands._grab(g, region, commands._grab_errors(mss))\n"
                    "except errors.MattingError as e: print('MattingError:', e)\n")
    p = on_screen(x_display, "-c", grab_outside)
    assert "MattingError: cannot capture the screen region 600,400,100,100" in p.stdout, p.stdout + p.stderr


def test_models_and_presets_listings(user_dir):
    p = run_cli("models", check=0)
    assert "mediapipe_selfie_landscape" in p.stdout and "Apache-2.0" in p.stdout and "GPL-3.0" in p.stdout
    p = run_cli("presets", check=0)
    for name in ("Studio", "Café", "Multi-person", "Low light"):
        assert name in p.stdout
    # the commands read this run's empty user folder, not one an earlier run (or the developer) filled
    assert f"user presets folder: {user_dir / 'presets'}\n" in p.stdout, p.stdout


def test_bench_prints_figures_for_the_default_model():
    p = run_cli("bench", "--runs", "5", "--models", "mediapipe_selfie_landscape", check=0)
    lines = p.stdout.splitlines()
    header = next((l for l in lines if l.startswith("model ")), None)
    assert header is not None, p.stdout
    rows = [l for l in lines if l.startswith("mediapipe_selfie_landscape")]
    assert len(rows) == 2, p.stdout  # the command line's 1280x720 and the OBS worker's small input

    def column(row: str, name: str) -> float:
        # figures are right-aligned under their names and "bare run" holds a space, so a figure is the last
        # word of the row up to where its name ends in the header
        return float(row[:re.search(rf"(?<!\S){name}(?!\S)", header).end()].split()[-1])

    for row in rows:
        # pipeline throughput over the bare model's, one frame at a time and streamed: README's target is 0.8
        # for the default model; the floor only catches a broken pipeline (timings on a busy machine vary),
        # the ceiling a figure upside down (bare / pipeline can hardly beat 1: the pipeline runs the model)
        for name in ("ratio", "stream"):
            assert 0.3 < column(row, name) <= 1.25, f"{name} out of range in\n{header}\n{row}"


def test_bench_times_each_presets_own_pipeline():
    p = run_cli("bench", "--presets", "studio,multi_person", "--runs", "5", check=0)
    rows = [l for l in p.stdout.splitlines() if l.startswith(("studio ", "multi_person "))]
    assert len(rows) == 4, p.stdout  # two presets, two inputs
    totals = [float(re.search(r"\)\s+[\d.]+\s+([\d.]+)\s", l).group(1)) for l in rows]  # pre, then total ms
    assert all(t > 0 for t in totals)
    assert all("(tiles)" in l for l in rows if l.startswith("multi_person"))


def _opencv_gui() -> str:
    """The GUI backend OpenCV was built with ("NONE" for the headless build the project depends on)."""
    m = re.search(r"^\s*GUI:[ \t]*(\S+)", cv2.getBuildInformation(), re.M)
    assert m, "OpenCV's build information has no 'GUI: <backend>' line to tell whether it can open windows"
    return m.group(1)


def test_screen_window_without_gui_support_explains_itself(x_display):
    p = on_screen(x_display, "-m", "obsmatte", "screen", "--region", "0,0,160,120", "--seconds", "1")
    # the outcome is decided up front by the build: the command itself only finds out when imshow fails
    if _opencv_gui().upper() == "NONE":
        assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        assert "cannot open windows" in p.stderr and "--out" in p.stderr, p.stderr
        assert p.stderr.strip().count("\n") == 0, "one line, no traceback"
        assert "frames in" not in p.stdout, "no summary of frames nobody saw"
    else:
        assert p.returncode == 0, p.stderr
        assert re.search(r"screen: [1-9]\d* frames in", p.stdout), p.stdout  # the window showed frames


@pytest.mark.parametrize("argv, flag", [
    (["bench", "--size", "0x720"], "--size"), (["bench", "--size", "1280"], "--size"),
    (["bench", "--size", "wide"], "--size"), (["bench", "--size=-1x5"], "--size"),
    (["bench", "--runs", "0"], "--runs"), (["video", "in.mp4", "out", "--max-frames", "-1"], "--max-frames"),
    (["screen", "--fps", "0"], "--fps"), (["screen", "--fps", "nan"], "--fps"),
    (["screen", "--seconds", "-1"], "--seconds"),
])
def test_bad_argument_values_are_argparse_errors(argv, flag, capsys):
    """Refused by argparse with one error line and exit 2, before anything runs (a --runs 0 bench divided by
    nothing, a --size 1280 one was a traceback, a negative --max-frames read the whole video)."""
    from obsmatte import cli
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(argv)
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(rf"obs-matting {argv[0]}: error: argument {flag}: expected .*, got '.*'", last), last


def test_good_argument_values_still_parse():
    from obsmatte import cli
    parse = cli.build_parser().parse_args
    assert parse(["bench"]).size == (1280, 720) and parse(["bench", "--size", "640X360"]).size == (640, 360)
    assert parse(["bench", "--runs", "1"]).runs == 1
    assert parse(["video", "a.mp4", "b", "--max-frames", "0"]).max_frames == 0
    args = parse(["screen", "--fps", "2.5", "--seconds", "0"])
    assert (args.fps, args.seconds) == (2.5, 0)


def test_tune_dry_run_searches_and_reports_but_writes_no_preset():
    from obsmatte.evaluation.tune import GRID, MAE_GAIN
    need_shared("eval", "video")
    before = {f.name: f.read_bytes() for f in paths.PRESETS_DIR.glob("*.json")}
    # the smallest real search (~20 s on two cores): no random draws, so the seeds (the shipped presets and the
    # defaults) and one coordinate sweep around the best; two frames per video for flicker
    p = run_cli("tune", "--preset", "studio", "--budget", "0", "--video-frames", "2", "--dry-run", check=0)
    assert {f.name: f.read_bytes() for f in paths.PRESETS_DIR.glob("*.json")} == before, "--dry-run wrote"
    assert "wrote" not in p.stdout, p.stdout
    m = re.search(r"^\[studio\] (\d+) candidates; best MAE [\d.]+ .*: (\{.*\})$", p.stdout, re.M)
    assert m, p.stdout
    chosen = ast.literal_eval(m.group(2))
    assert set(chosen) == set(GRID) and all(chosen[k] in GRID[k] for k in GRID), chosen
    # the sweep tries every grid value of every knob (the boost stays off outside low light)
    assert int(m.group(1)) >= 1 + sum(len(v) - 1 for k, v in GRID.items() if k != "low_light_boost"), m.group(0)
    m = re.search(r"^\[studio\] all portraits: ours MAE ([\d.]+) .*\| baseline MAE ([\d.]+) ", p.stdout, re.M)
    assert m, p.stdout
    ours, baseline = float(m.group(1)), float(m.group(2))
    # the shipped Studio values are among the seeds and meet the MAE target (20% below the baseline's, ~0.55 x
    # here), so a search that keeps the lowest MAE cannot end short of it; even the worst candidate it accepts
    # beats the baseline (0.0078), so "better than the baseline" alone would not show that it kept the best
    assert 0 < ours <= (1 - MAE_GAIN) * baseline, m.group(0)
