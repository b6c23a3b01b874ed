"""Half-made venvs: install.sh and setup.sh make them again (or repair them in place when they did not make
them), uninstall removes one install.sh left half-made, and setup.sh stops on a pip failure or a missing python3.

Debian without python3-venv is played by a stand-in python3: its `-m venv` leaves bin/python and stops at
ensurepip, as Debian's does, until the test "installs python3-venv" (removes a flag file). Both scripts run
from temp copies; nothing here uses apt, the network, or the dev venv's files."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from obsmatte import paths
from obsmatte.installer import providers
from test_installer_shells import repo_copy, sh_env  # noqa: F401 (repo_copy is a fixture)

ROOT = paths.ROOT
MARKER = ".obs-matting-venv"
TOOLS = ("dirname", "uname", "cat", "tr", "sed", "head", "grep", "awk", "ls", "mkdir", "touch", "rm", "id")


def tools_dir(folder: Path) -> Path:
    """A PATH folder with the plain tools the scripts use and no python3, obs, ldd or package manager."""
    folder.mkdir(exist_ok=True)
    for tool in TOOLS:
        (folder / tool).symlink_to(shutil.which(tool))
    return folder


def debian_python3(folder: Path, no_venv_package: Path, lend_packages: bool) -> Path:
    """A python3 that makes venvs the way Debian's does: while `no_venv_package` exists, `-m venv` makes bin/python
    and then fails at ensurepip. With `lend_packages`, a venv it makes fully gets the test venv's packages (a .pth
    file), so the installer finds its pins there and never pip installs. Anything else goes to the real Python."""
    lent = sysconfig.get_paths()["purelib"] if lend_packages else ""
    script = folder / "python3"
    script.write_text(f"""#!/bin/sh
real="{sys.executable}"
if [ "$1 $2" = "-m venv" ]; then
  for venv; do :; done
  shift 2
  if [ -f "{no_venv_package}" ]; then
    "$real" -m venv --without-pip "$@" || exit $?
    echo "The virtual environment was not created successfully because ensurepip is not available." >&2
    exit 1
  fi
  "$real" -m venv "$@" || exit $?
  if [ -n "{lent}" ]; then
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "{lent}" > "$site/lent-by-the-test.pth"
  fi
  exit 0
fi
exec "$real" "$@"
""")
    script.chmod(0o755)
    return script


def pip_runs(venv: Path) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--version"], capture_output=True).returncode == 0


def need_pinned_packages():
    reqs = providers.requirements(f"{sys.version_info[0]}.{sys.version_info[1]}", "onnxruntime")
    if providers.missing_requirements(reqs, providers.installed_distributions()):
        pytest.skip("needs the pinned packages in the test venv (lent to the venv install.sh makes)")


# ---- install.sh ------------------------------------------------------------------------------------

@pytest.fixture
def debian(tmp_path):
    """PATH with the tools, a stand-in `obs` (nothing for ldd: install.sh takes python3 from PATH) and the
    Debian-like python3, which starts without python3-venv."""
    bin_dir = tools_dir(tmp_path / "bin")
    obs = bin_dir / "obs"
    obs.write_text("#!/bin/sh\nexit 0\n")
    obs.chmod(0o755)
    no_venv_package = tmp_path / "python3-venv-not-installed"
    no_venv_package.touch()
    debian_python3(bin_dir, no_venv_package, lend_packages=True)
    env = sh_env(tmp_path, PATH=str(bin_dir), PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    return env, no_venv_package


def install_sh(repo, env, *args):
    return subprocess.run([shutil.which("bash"), str(repo / "install.sh"), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_install_sh_makes_again_the_venv_it_left_half_made(repo_copy, tmp_path, debian):
    """Debian without python3-venv: the first run stops after bin/python; once python3-venv is installed the next
    run makes the venv again (before, bin/python counted as a venv and pip failed on every run, exit 19)."""
    need_pinned_packages()
    env, no_venv_package = debian
    venv = tmp_path / "venv"
    r = install_sh(repo_copy, env, "--venv", str(venv))
    assert r.returncode == 12 and "could not make a venv" in r.stderr, r.stdout + r.stderr
    assert (venv / "bin" / "python").exists() and not pip_runs(venv)
    assert (venv / MARKER).exists()  # written before the venv, so the half-made one is known as this script's

    no_venv_package.unlink()  # the user installs python3-venv
    r = install_sh(repo_copy, env, "--venv", str(venv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"recreating the venv {venv}: pip does not run in it" in r.stdout
    assert pip_runs(venv) and (venv / MARKER).exists()
    assert (repo_copy / "python-path.txt").is_file() and "ready." in r.stdout


def test_install_sh_uninstall_removes_a_venv_it_left_half_made(repo_copy, tmp_path, debian):
    env, _ = debian
    venv = tmp_path / "venv"
    assert install_sh(repo_copy, env, "--venv", str(venv)).returncode == 12
    r = install_sh(repo_copy, env, "--dry-run", "--venv", str(venv))
    assert r.returncode == 0 and f"would recreate the venv {venv}: pip does not run in it" in r.stdout, r.stdout
    r = install_sh(repo_copy, env, "--uninstall", "--venv", str(venv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"removed the venv {venv}" in r.stdout and not venv.exists()


def test_install_sh_repairs_in_place_a_half_made_venv_without_its_marker(repo_copy, tmp_path, debian):
    """A venv without pip and without the marker (what install.sh left before it wrote the marker first): venv
    is run over it, which adds pip and deletes nothing; it stays the user's, so uninstall leaves it."""
    need_pinned_packages()
    env, no_venv_package = debian
    no_venv_package.unlink()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "notes.txt").write_text("keep me")
    r = install_sh(repo_copy, env, "--venv", str(venv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"repairing the venv {venv}: pip does not run in it" in r.stdout
    assert pip_runs(venv) and (venv / "notes.txt").read_text() == "keep me" and not (venv / MARKER).exists()
    r = install_sh(repo_copy, env, "--uninstall", "--venv", str(venv))
    assert r.returncode == 0 and venv.is_dir() and f"left the venv {venv}" in r.stdout, r.stdout + r.stderr


def test_install_sh_leaves_a_pipless_venv_of_another_python_it_did_not_make(repo_copy, tmp_path, debian):
    env, no_venv_package = debian
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text('#!/bin/sh\n[ "$1" = -m ] && exit 1\necho 3.9\n')  # no pip; Python 3.9
    fake.chmod(0o755)
    r = install_sh(repo_copy, env, "--dry-run", "--venv", str(venv))
    assert r.returncode == 15 and "without pip and was not made by this script" in r.stderr, r.stdout + r.stderr
    assert sorted(p.name for p in venv.rglob("*")) == ["bin", "python"]


# ---- setup.sh --------------------------------------------------------------------------------------

def setup_copy(tmp_path: Path, python3: Path) -> Path:
    """setup.sh alone in a temp checkout, looking for the Debian Python at `python3` instead of /usr/bin/python3."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    text = (ROOT / "setup.sh").read_text(encoding="utf-8")
    assert text.count("/usr/bin/python3") >= 1
    (checkout / "setup.sh").write_text(text.replace("/usr/bin/python3", str(python3)), encoding="utf-8")
    return checkout


def setup_sh(checkout, env):
    return subprocess.run([shutil.which("bash"), str(checkout / "setup.sh")], capture_output=True, text=True,
                          env=env, timeout=120)


def test_setup_sh_says_that_python3_is_missing(tmp_path):
    """Without python3 the script stopped silently (set -e and a failing `command -v python3`)."""
    checkout = setup_copy(tmp_path, tmp_path / "no-such" / "python3")
    r = setup_sh(checkout, sh_env(tmp_path, PATH=str(tools_dir(tmp_path / "bin"))))
    assert r.returncode != 0
    assert "setup: error: no python3 found" in r.stderr and "python3-venv" in r.stderr, r.stdout + r.stderr
    assert not (checkout / ".venv").exists()


@pytest.mark.parametrize("failing", ["--upgrade pip", "-e "])
def test_setup_sh_stops_when_pip_fails(tmp_path, failing):
    """A pip failure was hidden behind `| grep ... || true`: a failed re-run printed "setup: ready"."""
    checkout = setup_copy(tmp_path, Path("/usr/bin/python3"))
    venv_bin = checkout / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    fake = venv_bin / "python"
    fake.write_text(f"""#!/bin/sh
case "$*" in
  *"pip --version"*) echo "pip 23.0.1" ;;
  *"pip install"*"{failing}"*) echo "ERROR: No matching distribution found" >&2; exit 1 ;;
  *"import obsmatte"*) echo "setup: ready (fake)" ;;
esac
exit 0
""")
    fake.chmod(0o755)
    r = setup_sh(checkout, sh_env(tmp_path))
    assert r.returncode != 0 and "setup: ready" not in r.stdout, r.stdout + r.stderr
    assert "ERROR: No matching distribution found" in r.stdout + r.stderr and "setup: error: pip" in r.stderr


def test_setup_sh_makes_again_the_venv_it_left_half_made(tmp_path):
    no_venv_package = tmp_path / "python3-venv-not-installed"
    no_venv_package.touch()
    bin_dir = tools_dir(tmp_path / "bin")
    checkout = setup_copy(tmp_path, debian_python3(bin_dir, no_venv_package, lend_packages=False))
    env = sh_env(tmp_path, PATH=str(bin_dir), PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    venv = checkout / ".venv"
    r = setup_sh(checkout, env)
    assert r.returncode != 0 and "setup: error: could not make .venv" in r.stderr, r.stdout + r.stderr
    assert (venv / "bin" / "python").exists() and not pip_runs(venv)

    no_venv_package.unlink()  # python3-venv installed
    r = setup_sh(checkout, env)
    assert "setup: recreating .venv: pip does not run in it" in r.stdout, r.stdout + r.stderr
    assert pip_runs(venv)
    # this copy has no project to install (and no index): pip's failure now stops the script
    assert r.returncode != 0 and "setup: error: pip" in r.stderr and "setup: ready" not in r.stdout
