"""AI Background Matting for OBS Studio: the script you add in Tools > Scripts.

It only makes the project's packages importable and registers the filter; everything else lives in
lib/obsmatte (lib/obsmatte/obs is the OBS glue). After loading, add "AI Background Matting" to a
source's Filters.
"""
import os
import site
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRED = ("numpy", "onnxruntime", "cv2")
PIP_NAMES = {"numpy": "numpy", "onnxruntime": "onnxruntime", "cv2": "opencv-python-headless"}


def _site_folders():
    """Where the installers and the dev setup put packages, in order of preference."""
    folders = [p for p in os.environ.get("OBSMATTE_SITE_PACKAGES", "").split(os.pathsep) if p]
    listing = os.path.join(HERE, "python-path.txt")
    if os.path.isfile(listing):
        with open(listing, encoding="utf-8") as f:
            folders += [line.strip() for line in f if line.strip() and not line.startswith("#")]
    version = "python%d.%d" % sys.version_info[:2]
    folders.append(os.path.join(HERE, ".venv", "lib", version, "site-packages"))
    folders.append(os.path.join(HERE, ".venv", "Lib", "site-packages"))  # a Windows venv
    return [p for p in folders if os.path.isdir(p)]


def _setup_paths():
    lib = os.path.join(HERE, "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    for folder in _site_folders():
        if folder not in sys.path:
            site.addsitedir(folder)  # also runs the folder's .pth files (the editable install)


def _missing_packages():
    missing = []
    for module in REQUIRED:
        try:
            __import__(module)
        except Exception as e:  # a broken binary wheel raises more than ImportError
            missing.append("%s (%s)" % (PIP_NAMES[module], e.__class__.__name__))
    return missing


_setup_paths()
MISSING = _missing_packages()
LOAD_ERROR = None
if not MISSING:
    try:
        from obsmatte.obs import plugin
    except Exception as e:
        LOAD_ERROR = "%s: %s" % (e.__class__.__name__, e)


def _install_hint():
    return ("Missing Python packages: %s. Install them into the Python OBS uses, e.g. "
            "`%s -m pip install numpy onnxruntime opencv-python-headless`, or run the project's installer, "
            "then restart OBS." % (", ".join(MISSING), "python3.%d" % sys.version_info[1]))


def _log(message):
    try:
        import obspython as obs
        obs.script_log(obs.LOG_WARNING, message)
    except Exception:
        print(message)


def script_description():
    if MISSING:
        return "<b>AI Background Matting</b><br>Not active. " + _install_hint()
    if LOAD_ERROR:
        return "<b>AI Background Matting</b><br>Not active: " + LOAD_ERROR
    return plugin.DESCRIPTION


def script_load(settings):
    if MISSING:
        _log(_install_hint())
        return
    if LOAD_ERROR:
        _log("AI Background Matting could not start: " + LOAD_ERROR)
        return
    plugin.load()


def script_unload():
    if not MISSING and not LOAD_ERROR:
        plugin.unload()
