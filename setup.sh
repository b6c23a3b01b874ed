#!/usr/bin/env bash
# Sets up a fresh checkout in one step; safe to run again (it only adds what is missing).
#   ./setup.sh          a virtualenv in .venv with the engine and its command line (obs-matting)
#   ./setup.sh --test   also the test tools and, on Debian/Ubuntu, OBS Studio and Xvfb for the tests
#                       that drive a real OBS (and gdb, which explains a crash of OBS in the test output)
# The venv is made with the Python that Debian's OBS links (/usr/bin/python3), so OBS can import the
# same packages (tests hand .venv's site-packages to OBS).
set -euo pipefail
cd "$(dirname "$0")"
with_test=0
[ "${1:-}" = "--test" ] && with_test=1
MARKER=.venv/.made-by-setup  # in a .venv this script made: only such a one is ever emptied and made again

fail() { echo "setup: error: $*" >&2; exit 1; }

install_system_packages() {  # --test on Debian/Ubuntu; first, as it brings python3 to a machine without one
  local missing="" pkg sudo=""
  for pkg in python3 python3-venv obs-studio obs-plugins xvfb xauth gdb; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  [ -n "$missing" ] || return 0
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing$missing (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq$missing >/dev/null
}

find_python() {  # Debian's OBS links /usr/bin/python3; elsewhere the python3 on PATH
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; return 0; fi
  command -v python3 || fail "no python3 found: install python3 and python3-venv (Debian/Ubuntu:" \
    "sudo apt-get install python3-venv, or ./setup.sh --test, which installs them and the test tools)"
}

python_minor_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

venv_has_pip() { [ -x .venv/bin/python ] && .venv/bin/python -m pip --version >/dev/null 2>&1; }

make_venv() {  # a .venv with pip: made, made again (one this script made) or repaired in place (any other)
  local clear="" ours=1
  if [ -f "$MARKER" ]; then
    clear=--clear
    echo "setup: recreating .venv: pip does not run in it (a venv left half-made)"
  elif [ -x .venv/bin/python ]; then
    # made by hand, or by this script before it left a marker: venv run over it adds pip and deletes nothing,
    # but only with the same Python (another one's files would stay beside the new ones)
    [ "$(python_minor_of .venv/bin/python)" = "$(python_minor_of "$PY")" ] \
      || fail ".venv has no pip and another Python than $PY: remove it (rm -rf .venv) and run ./setup.sh again"
    echo "setup: repairing .venv in place: pip does not run in it (nothing in it is deleted)"
    ours=""
  elif [ -d .venv ] && [ -n "$(ls -A .venv)" ]; then
    fail ".venv is not empty and holds no venv: move it away and run ./setup.sh again"
  fi
  echo "setup: creating .venv with $PY ($("$PY" --version))"
  mkdir -p .venv
  # The marker goes in first, so a venv that stops halfway (Debian without python3-venv stops at ensurepip,
  # after making bin/python) is known as this script's and made again by the next run
  [ -z "$ours" ] || touch "$MARKER"
  if ! "$PY" -m venv $clear .venv; then
    [ -z "$ours" ] || touch "$MARKER"
    fail "could not make .venv with $PY (Debian/Ubuntu: sudo apt-get install python3-venv, then run this again)"
  fi
  [ -z "$ours" ] || touch "$MARKER"  # --clear emptied the folder, the marker with it
}

pip_install() {  # pip install, quiet, without its "WARNING: Location" lines; pip's own exit status
  # (grep -v fails when it prints nothing, as on a quiet success: that status must not count, pip's must)
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
}

if [ "$with_test" = 1 ] && command -v apt-get >/dev/null 2>&1; then install_system_packages; fi
PY=$(find_python)
venv_has_pip || make_venv
pip_install --upgrade pip || fail "pip could not upgrade itself in .venv (see above; no network?)"
extra=""; [ "$with_test" = 1 ] && extra="[test]"
# The engine's packages at the installer's pins for this Python (what users get), not whatever the
# registry released since: a new onnxruntime must be a deliberate, tested pin change.
if ! PYTHONPATH=lib .venv/bin/python -m obsmatte.installer requirements --cpu > .venv/pins.txt; then
  echo "setup: warning: no pins for this Python; installing the newest releases instead" >&2
  : > .venv/pins.txt
fi
pip_install -c .venv/pins.txt -e ".$extra" || fail "pip could not install the packages into .venv (see above)"
.venv/bin/python -c "import obsmatte, onnxruntime, cv2, numpy; print('setup: ready (obsmatte', obsmatte.__version__, '| onnxruntime', onnxruntime.__version__, '| opencv', cv2.__version__, ')')"
