#!/usr/bin/env bash
# One-command install of the obs-matting filter for OBS on Linux and macOS; safe to run again.
#   ./install.sh [--models rvm_mobilenetv3,...] [--accept-licenses] [--cpu] [--dry-run] [--uninstall]
#                [--with-obs] [--venv DIR] [--obs-version X.Y (macOS: when OBS.app's cannot be read)]
# This script only collects facts (where OBS is, which Python it links, GPU names) and makes the venv;
# every decision, download and file edit is made by `python -m obsmatte.installer` (lib/obsmatte/installer),
# which is tested. Exit codes match lib/obsmatte/installer/failures.py.
# Written for bash 3.2 too (macOS): empty arrays are expanded with the ${a[@]+...} guard.
set -euo pipefail
REPO="$(cd "$(dirname "$0")" && pwd)"
EXIT_NO_OBS=10 EXIT_OBS_UNSUPPORTED=11 EXIT_NO_PYTHON=12 EXIT_PIP_FAILED=19 EXIT_NO_PERMISSION=15
VENV_MARKER=".obs-matting-venv"  # in every venv this script makes (and only in those)

die() { echo "install: error: $2" >&2; exit "$1"; }
say() { echo "install: $*"; }

models="" accept="" cpu="" dry_run="" uninstall="" with_obs="" venv="" obs_version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="${2:?--models needs a value}"; shift ;;
    --models=*) models="${1#*=}" ;;
    --accept-licenses) accept=1 ;;
    --cpu) cpu=1 ;;
    --dry-run) dry_run=1 ;;
    --uninstall) uninstall=1 ;;
    --with-obs) with_obs=1 ;;
    --venv) venv="${2:?--venv needs a folder}"; shift ;;
    --obs-version) obs_version="${2:?--obs-version needs a version like 31.1}"; shift ;;
    --obs-version=*) obs_version="${1#*=}" ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install: error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$obs_version" in
  ""|[0-9]*) ;;
  *) echo "install: error: --obs-version needs a version like 31.1, not $obs_version" >&2; exit 2 ;;
esac

# Arguments passed through to the Python installer.
py_args=()
[ -n "$models" ] && py_args+=(--models "$models")
[ -n "$accept" ] && py_args+=(--accept-licenses)
[ -n "$cpu" ] && py_args+=(--cpu)
[ -n "$dry_run" ] && py_args+=(--dry-run)

run_installer() {  # run_installer PYTHON ARGS... : the package from this checkout, not an installed copy
  local python="$1"; shift
  PYTHONPATH="$REPO/lib${PYTHONPATH:+:$PYTHONPATH}" "$python" -m obsmatte.installer "$@"
}

nvidia_facts() {  # --nvidia-driver/--compute-capability arguments, one per line (none when unknown)
  local line="" driver cc=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    # the first GPU only (-i 0: no pipe into head, whose early exit would fail the query under pipefail);
    # compute_cap is a query field from driver 510 on: an older driver answers its version alone
    line="$(nvidia-smi -i 0 --query-gpu=driver_version,compute_cap --format=csv,noheader 2>/dev/null)" \
      || line="$(nvidia-smi -i 0 --query-gpu=driver_version --format=csv,noheader 2>/dev/null)" || line=""
  fi
  driver="$(echo "${line%%,*}" | tr -d ' ')"
  case "$line" in *,*) cc="$(echo "${line#*,}" | tr -d ' ')" ;; esac
  case "$driver" in [0-9]*) ;; *)  # Debian packages nvidia-smi apart from the driver: the module knows too
    driver="$(cat /sys/module/nvidia/version 2>/dev/null || true)" ;; esac
  case "$driver" in [0-9]*) printf '%s\n%s\n' --nvidia-driver "$driver" ;; esac
  case "$cc" in [0-9]*) printf '%s\n%s\n' --compute-capability "$cc" ;; esac
}

gpu_names() {  # one adapter name per line (empty when none can be seen)
  if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L 2>/dev/null | sed 's/ (UUID.*//' || true; fi
  if command -v lspci >/dev/null 2>&1; then
    lspci 2>/dev/null | grep -iE 'vga|3d controller|display' | sed 's/^[^:]*:[^:]*: //' || true
  fi
}

linux_install_obs() {
  command -v obs >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die $EXIT_NO_OBS "--with-obs knows apt-get only; install OBS Studio from your distribution or https://obsproject.com"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  if [ -n "$dry_run" ]; then say "would run: $sudo apt-get install -y obs-studio"; return 0; fi
  say "installing OBS Studio from the distribution: $sudo apt-get install -y obs-studio"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq obs-studio \
    || die $EXIT_NO_OBS "apt-get could not install obs-studio"
}

linux_obs_python_minor() {  # the libpython OBS links: ldd on the obs binary, then on libobs-scripting
  local obs_bin lib f
  obs_bin="$(command -v obs || true)"
  for f in "$obs_bin" $(ldconfig -p 2>/dev/null | awk '/libobs-scripting/ {print $NF}') \
           /usr/lib/*/libobs-scripting.so* /usr/lib/*/obs-plugins/obs-scripting.so; do
    [ -n "$f" ] && [ -e "$f" ] || continue
    lib="$(ldd "$f" 2>/dev/null | grep -o 'libpython3\.[0-9]*' | head -1 || true)"
    if [ -n "$lib" ]; then echo "${lib#libpython}"; return 0; fi
  done
  return 0
}

python_minor_of() {  # python_minor_of PYTHON: its "3.X", empty when it does not run
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# check_venv PYTHON: what $venv needs before packages go in, in venv_action (empty: nothing; create; clear: make it
# again, emptied first; repair: run venv over it, which deletes nothing) and the reason in venv_why. Only a folder
# with the marker is ever emptied (and removed by --uninstall): a folder of the user's must never be.
check_venv() {
  local python="$1" have
  venv_action="" venv_why=""
  if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    # Debian without python3-venv: `python3 -m venv` makes bin/python, then stops at ensurepip
    venv_why="pip does not run in it (a venv left half-made)"
    if [ -f "$venv/$VENV_MARKER" ]; then venv_action=clear; return 0; fi
    have="$(python_minor_of "$venv/bin/python")"
    [ -n "$have" ] && [ "$have" = "$(python_minor_of "$python")" ] \
      || die $EXIT_NO_PERMISSION "$venv has Python ${have:-?} without pip and was not made by this script:"\
" remove it or choose another --venv"
    venv_action=repair
  elif [ -x "$venv/bin/python" ]; then
    [ -f "$venv/$VENV_MARKER" ] && [ -n "$minor" ] || return 0
    # a venv this script made for another Python than OBS links now (OBS or the system was upgraded)
    have="$(python_minor_of "$venv/bin/python")"
    [ "$have" = "$minor" ] || { venv_action=clear; venv_why="it has Python ${have:-?}, OBS links $minor"; }
  elif [ -f "$venv/$VENV_MARKER" ]; then
    venv_action=clear venv_why="it has no working bin/python (made halfway, or its Python was removed)"
  elif [ -d "$venv" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
    die $EXIT_NO_PERMISSION "$venv is not empty and holds no venv: choose another --venv"\
" (uninstall removes the venv this script makes)"
  else
    venv_action=create
  fi
}

say_venv_plan() {  # say_venv_plan PYTHON: what make_venv will do, as "would ..." lines on a dry run
  local version kept="not made by this script, so nothing in it is deleted"
  version="$("$1" --version 2>&1)"
  if [ -n "$dry_run" ]; then
    case "$venv_action" in
      clear) say "would recreate the venv $venv: $venv_why" ;;
      repair) say "would repair the venv $venv: $venv_why; $kept" ;;
    esac
    say "would create a venv with $1 ($version) in $venv"
  else
    case "$venv_action" in
      clear) say "recreating the venv $venv: $venv_why" ;;
      repair) say "repairing the venv $venv: $venv_why; $kept" ;;
    esac
    say "creating a venv with $1 ($version) in $venv"
  fi
}

make_venv() {  # make_venv PYTHON: create, clear or repair $venv as check_venv decided
  local python="$1" clear="" status=0
  [ "$venv_action" = clear ] && clear=--clear
  mkdir -p "$venv" 2>/dev/null || die $EXIT_NO_PERMISSION "cannot create $venv"
  # The marker goes in first, so a venv that stops halfway (Debian without python3-venv stops at ensurepip, after
  # making bin/python) is still known as this script's: the next run makes it again, --uninstall removes it
  [ "$venv_action" = repair ] || touch "$venv/$VENV_MARKER"
  "$python" -m venv $clear "$venv" || status=$?
  [ -z "$clear" ] || touch "$venv/$VENV_MARKER"  # --clear emptied the folder, the marker with it
  [ "$status" = 0 ] || die $EXIT_NO_PYTHON "could not make a venv with $python (Debian/Ubuntu:"\
" sudo apt-get install python3-venv, then run this again: it finishes the venv)"
}

main_linux() {
  [ -n "$with_obs" ] && linux_install_obs
  if [ -z "$uninstall" ] && ! command -v obs >/dev/null 2>&1 && [ -z "$with_obs" ]; then
    # The Flatpak runs OBS in a sandbox with the Flatpak runtime's Python, not the system's one this script
    # makes a venv with; it does not set that up (yet): say so instead of "not found"
    if command -v flatpak >/dev/null 2>&1 && flatpak info com.obsproject.Studio >/dev/null 2>&1; then
      die $EXIT_NO_OBS "OBS is installed as a Flatpak (com.obsproject.Studio): its sandbox runs the Flatpak runtime's own Python, which this installer does not set up (yet); install OBS from your distribution (Debian/Ubuntu: ./install.sh --with-obs) or the OBS PPA, then run this again"
    fi
    die $EXIT_NO_OBS "OBS Studio not found (no 'obs' command); install it (Debian/Ubuntu: sudo apt-get install obs-studio, or ./install.sh --with-obs)"
  fi
  local minor python data
  minor="$(linux_obs_python_minor)"
  if [ -n "$minor" ] && [ -x "/usr/bin/python$minor" ]; then python="/usr/bin/python$minor"
  elif [ -n "$minor" ] && command -v "python$minor" >/dev/null 2>&1; then python="$(command -v "python$minor")"
  elif [ -n "$minor" ]; then die $EXIT_NO_PYTHON "OBS links Python $minor but python$minor is not installed (Debian/Ubuntu: sudo apt-get install python$minor-venv)"
  else python="$(command -v python3 || true)"; fi
  [ -n "$python" ] || die $EXIT_NO_PYTHON "no python3 found; install python3 and python3-venv"
  data="${OBSMATTE_USER_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/obs-matting}"
  venv="${venv:-$data/venv}"

  if [ -n "$uninstall" ]; then
    run_installer "$python" uninstall --os linux --repo "$REPO" ${dry_run:+--dry-run}
    if [ -f "$venv/$VENV_MARKER" ]; then  # only a venv this script made, half-made ones too
      if [ -n "$dry_run" ]; then say "would remove the venv $venv"; else rm -rf "$venv"; say "removed the venv $venv"; fi
    elif [ -d "$venv" ]; then
      say "left the venv $venv: this script did not make it (no $VENV_MARKER in it); remove it yourself if unused"
    fi
    return 0
  fi

  local gpus=() line
  while IFS= read -r line; do [ -n "$line" ] && gpus+=(--gpu "$line"); done < <(gpu_names)
  while IFS= read -r line; do [ -n "$line" ] && gpus+=("$line"); done < <(nvidia_facts)
  local site
  check_venv "$python"
  if [ -n "$venv_action" ]; then
    say_venv_plan "$python"
    if [ -n "$dry_run" ]; then
      site="$venv/lib/python${minor:-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}/site-packages"
      say "would install: $(run_installer "$python" requirements --os linux ${cpu:+--cpu} ${gpus[@]+"${gpus[@]}"} | tr '\n' ' ')"
      run_installer "$python" install --os linux --skip-packages --site-packages "$site" --repo "$REPO" \
        --obs-running no ${py_args[@]+"${py_args[@]}"} ${gpus[@]+"${gpus[@]}"}
      return 0
    fi
    make_venv "$python"
  fi
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # The Python installer checks the pins, pip installs what is missing, writes python-path.txt and
  # downloads the chosen models (verified, resumable).
  run_installer "$venv/bin/python" install --os linux --repo "$REPO" --site-packages "$site" \
    ${minor:+--obs-python-minor "$minor"} --python-home "$venv" --obs-running no ${py_args[@]+"${py_args[@]}"} ${gpus[@]+"${gpus[@]}"}
  [ -n "$dry_run" ] && return 0
  echo
  say "ready. In OBS: Tools > Scripts > + > $REPO/obs_matting.py, then add the filter to your camera source."
}

macos_obs_version() {  # macos_obs_version APP: --obs-version, else the version in OBS.app's Info.plist
  local version="$obs_version"
  [ -n "$version" ] || version="$(/usr/bin/defaults read "$1/Contents/Info" CFBundleShortVersionString 2>/dev/null \
    || true)"
  # No guess when it cannot be read: the version picks the ini (user.ini from OBS 31) and the Pythons OBS loads
  case "$version" in
    [0-9]*) echo "$version" ;;
    *) die $EXIT_NO_OBS "cannot read the OBS version from $1 (defaults read ... CFBundleShortVersionString):"\
" pass it with --obs-version X.Y (OBS shows it in Help > About), e.g. ./install.sh --obs-version 31.1" ;;
  esac
}

main_macos() {
  local app="/Applications/OBS.app" version m fw python
  if [ ! -d "$app" ] && [ -z "$uninstall" ]; then
    die $EXIT_NO_OBS "OBS Studio not found in /Applications; install it from https://obsproject.com"
  fi
  # Which framework Python OBS will load (OBS before 31.0.2: the one Versions/Current points to; from 31.0.2
  # the newest it accepts). Any Python runs that lookup: a framework one, else python3 (on a Mac without
  # the command line tools that is a stub that asks to install them).
  local versions="/Library/Frameworks/Python.framework/Versions" installed="" current="" any=""
  for fw in "$versions"/3.*; do
    m="${fw##*/}"
    if [ -x "$fw/bin/python$m" ]; then installed="$installed${installed:+,}$m"; any="$fw/bin/python$m"; fi
  done
  any="${any:-$(command -v python3 || true)}"
  [ -n "$any" ] || die $EXIT_NO_PYTHON "no Python found: install Python 3.12 from python.org (https://www.python.org/downloads/macos/) and run ./install.sh again"
  if [ -n "$uninstall" ]; then  # it edits OBS's ini and its own files only: any Python will do
    run_installer "$any" uninstall --os macos --repo "$REPO" ${dry_run:+--dry-run}; return 0
  fi
  version="$(macos_obs_version "$app")" || exit $?
  current="$(readlink "$versions/Current" 2>/dev/null || true)"; current="${current%/}"; current="${current##*/}"
  m="$(run_installer "$any" macos-python --obs-version "$version" ${installed:+--installed "$installed"} \
    ${current:+--current "$current"})" || exit $?
  fw="$versions/$m"; python="$fw/bin/python$m"
  # OBS's Python path on macOS is the folder that holds Python.framework: the installer sets it in OBS's ini
  run_installer "$python" install --os macos --obs-version "$version" --python-home /Library/Frameworks \
    ${py_args[@]+"${py_args[@]}"}
  [ -n "$dry_run" ] && return 0
  echo
  say "ready. OBS loads Python $m from /Library/Frameworks (Tools > Scripts > Python Settings shows it)."
  say "Start OBS, then Tools > Scripts > + > $REPO/obs_matting.py, and add the filter to your camera source."
}

case "$(uname -s)" in
  Linux) main_linux ;;
  Darwin) main_macos ;;
  *) die 2 "install.sh is for Linux and macOS; on Windows run install.ps1 in PowerShell" ;;
esac
