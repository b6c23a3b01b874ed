"""The ctypes bindings to libobs (obsmatte.obs.libobs) against the real library, without a running OBS."""
from __future__ import annotations

import ctypes as C
import subprocess
import sys

from obsmatte import paths

from conftest import need_tool


def test_blog_declares_its_fixed_arguments():
    """blog is variadic: on macOS arm64 ctypes passes the variadic arguments where the callee looks for them
    only when argtypes names the fixed ones (CPython gh-92892); without that the first log line could crash
    OBS on Apple Silicon."""
    need_tool("obs", why="libobs comes with OBS Studio; ./setup.sh --test installs it")
    from obsmatte.obs import libobs as L
    assert L.blog.argtypes == [C.c_int, C.c_char_p]


def test_log_writes_one_line_through_blog():
    """With the fixed arguments declared, the message still arrives whole (libobs' default handler, used when
    no OBS has started, prints to stdout); in a child process so libobs' stdout is not pytest's."""
    need_tool("obs", why="libobs comes with OBS Studio; ./setup.sh --test installs it")
    code = "from obsmatte.obs import libobs as L; L.log(L.LOG_INFO, '100% sure: caf\\u00e9 %s %d')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(paths.ROOT / "lib"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "[obs-matting] 100% sure: café %s %d" in out.stdout, out.stdout
