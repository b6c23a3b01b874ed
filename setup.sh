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

if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3); fi

if [ "$with_test" = 1 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for pkg in obs-studio obs-plugins xvfb xauth python3-venv gdb; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    echo "setup: installing$missing (apt)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq$missing >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY ($($PY --version))"
  $PY -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
extra=""; [ "$with_test" = 1 ] && extra="[test]"
# The engine's packages at the installer's pins for this Python (what users get), not whatever the
# registry released since: a new onnxruntime must be a deliberate, tested pin change.
if ! PYTHONPATH=lib .venv/bin/python -m obsmatte.installer requirements --cpu > .venv/pins.txt; then
  echo "setup: warning: no pins for this Python; installing the newest releases instead" >&2
  : > .venv/pins.txt
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c .venv/pins.txt -e ".$extra" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import obsmatte, onnxruntime, cv2, numpy; print('setup: ready (obsmatte', obsmatte.__version__, '| onnxruntime', onnxruntime.__version__, '| opencv', cv2.__version__, ')')"
