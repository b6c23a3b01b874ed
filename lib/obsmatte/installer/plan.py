"""The plan: facts in (from the shell and this Python), a list of steps out, each step able to say
whether it is already done. Applying only the steps not done makes a second run a no-op, and
--dry-run is just printing the list."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import paths
from . import obs_config, providers
from .download import download_verified, is_verified, part_path
from .failures import (InstallError, LicenseDeclinedError, ObsRunningError, PermissionDeniedError,
                       PythonMismatchError, EXIT_PIP_FAILED)
from .model_choice import Downloadable, choose, license_notice
from .obs_versions import PythonChoice, ini_name_for_obs, python_for_obs

PY_SECTION, PY_KEY = "Python", "Path64bit"
PYTHON_PATH_FILE = "python-path.txt"
STATE_FILE = "install-state.json"


@dataclass
class Facts:
    os_name: str  # windows | linux | macos
    obs_version: str | None = None
    python_minor: str = f"{sys.version_info[0]}.{sys.version_info[1]}"
    python_home: str = sys.base_prefix  # the python.org install folder OBS must point at (Windows)
    obs_python_minor: str | None = None  # Linux: the libpython OBS links, found by install.sh
    site_packages: list[str] = field(default_factory=list)  # Linux: folders for python-path.txt
    gpu_names: list[str] = field(default_factory=list)
    force_cpu: bool = False
    cuda: bool = False  # Windows: the CUDA build for an NVIDIA GPU instead of DirectML
    nvidia_driver: str | None = None  # e.g. '560.94' (nvidia-smi) or '32.0.15.6094' (Windows' form)
    compute_capability: str | None = None  # e.g. '8.6' (nvidia-smi)
    models: list[str] = field(default_factory=list)
    models_dir: Path = field(default_factory=paths.user_models_dir)
    obs_config_dir: Path | None = None
    repo: Path = paths.ROOT
    obs_running: bool = False
    accept_licenses: bool = False
    skip_packages: bool = False  # the shell installed packages itself (or the user manages them)
    installed: dict[str, str] | None = None  # name -> version; None = ask importlib.metadata


def default_obs_config_dir(os_name: str) -> Path:
    import os
    if os_name == "windows":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "obs-studio"
    if os_name == "macos":
        return Path.home() / "Library" / "Application Support" / "obs-studio"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "obs-studio"


def obs_path_value(python_home: str) -> str:
    """OBS's own Python Settings dialog stores the folder with forward slashes; write it the same way so
    a second run (or the user opening the dialog) sees the same value."""
    return str(python_home).replace("\\", "/").rstrip("/")


class Step:
    needs_obs_closed = False
    description = ""

    def done(self) -> bool:
        raise NotImplementedError

    def apply(self, log: Callable[[str], None]) -> str:
        raise NotImplementedError


@dataclass
class InstallPackages(Step):
    python: str
    requirements: list[str]
    missing: list[str]
    remove: list[str]
    reason: str

    @property
    def description(self) -> str:
        todo = self.missing or self.requirements
        extra = f" (removing {', '.join(self.remove)} first)" if self.remove else ""
        return f"install packages into {self.python}: {' '.join(todo)}{extra}; {self.reason}"

    def done(self) -> bool:
        return not self.missing and not self.remove

    def apply(self, log):
        pip = [self.python, "-m", "pip"]
        todo = list(self.missing)
        if self.remove:
            _run(pip + ["uninstall", "-y", *self.remove], log)
            # the builds share the `onnxruntime` package folder, which the uninstall just deleted: the wanted
            # build goes back in even when pip counts it installed
            wanted = [r for r in self.requirements if _requirement_name(r).startswith("onnxruntime")]
            _run(pip + ["install", "--disable-pip-version-check", "--force-reinstall", "--no-deps", *wanted], log)
            # --no-deps left out its extras (the CUDA build's CUDA and cuDNN packages): those go in next
            todo = [r for r in todo if r not in wanted or "[" in r]
        if todo:
            _run(pip + ["install", "--disable-pip-version-check", *todo], log)
        return f"installed {' '.join(self.missing) or 'the onnxruntime build'}"


def _requirement_name(requirement: str) -> str:
    """'onnxruntime-gpu==1.31.1; python_version...' -> 'onnxruntime-gpu'."""
    name = requirement.split(";")[0]
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", " "):
        name = name.split(sep)[0]
    return name.strip().lower()


def _run(cmd: list[str], log) -> None:
    log("  $ " + " ".join(cmd))
    try:
        rc = subprocess.run(cmd).returncode
    except OSError as e:
        log(f"  cannot start pip: {e}")
        rc = -1
    if rc != 0:
        err = InstallError(f"pip failed (exit {rc}) running: {' '.join(cmd)}; see the lines above "
                           f"(no network? no write permission?)")
        err.exit_code = EXIT_PIP_FAILED
        raise err


@dataclass
class SetObsPython(Step):
    ini: Path
    value: str
    needs_obs_closed = True

    @property
    def description(self) -> str:
        return f"set [{PY_SECTION}] {PY_KEY}={self.value} in {self.ini} (backup: {obs_config.backup_path(self.ini).name})"

    def done(self) -> bool:
        return obs_config.read_value(self.ini, PY_SECTION, PY_KEY) == self.value

    def apply(self, log):
        obs_config.set_value(self.ini, PY_SECTION, PY_KEY, self.value)
        return f"OBS Python path set in {self.ini}"


@dataclass
class WritePythonPathFile(Step):
    path: Path
    folders: list[str]

    @property
    def description(self) -> str:
        return f"write {self.path} listing {', '.join(self.folders)}"

    def content(self) -> str:
        return "".join(f + "\n" for f in self.folders)

    def done(self) -> bool:
        return self.path.is_file() and self.path.read_text(encoding="utf-8") == self.content()

    def apply(self, log):
        try:
            self.path.write_text(self.content(), encoding="utf-8")
        except PermissionError:
            raise PermissionDeniedError(f"no write permission for {self.path}") from None
        return f"wrote {self.path}"


@dataclass
class DownloadModel(Step):
    model: Downloadable
    target: Path

    @property
    def description(self) -> str:
        resume = " (resuming a partial download)" if part_path(self.target).exists() else ""
        return (f"download {self.model.id} ({self.model.license}, {self.model.expected.size / 1e6:.1f} MB) "
                f"to {self.target}{resume}")

    def done(self) -> bool:
        return is_verified(self.target, self.model.expected)

    def apply(self, log):
        download_verified(self.model.expected, self.target, log=log)
        return f"downloaded and verified {self.target}"


@dataclass
class Plan:
    title: str
    info: list[str]
    steps: list[Step]
    notes: list[str]
    licenses: list[Downloadable]


def build_install_plan(facts: Facts) -> Plan:
    os_name = providers.normalise_os(facts.os_name)
    info, notes, steps = [], [], []
    choice: PythonChoice | None = None
    if os_name in ("windows", "macos") and facts.obs_version:
        choice = python_for_obs(facts.obs_version)
        if choice.warning:
            notes.append("warning: " + choice.warning)
        if not choice.accepts(facts.python_minor):
            raise PythonMismatchError(
                f"OBS {facts.obs_version} cannot load Python {facts.python_minor}; it needs "
                f"{' or '.join(choice.pythons)} (64-bit, from python.org)")
    if os_name == "linux" and facts.obs_python_minor and facts.obs_python_minor != facts.python_minor:
        raise PythonMismatchError(
            f"OBS links Python {facts.obs_python_minor} but the packages would go into Python "
            f"{facts.python_minor}; run install.sh again so it makes the venv with python{facts.obs_python_minor}")
    title = f"obs-matting install plan ({os_name}" + (f", OBS {facts.obs_version}" if facts.obs_version else "") + ")"
    info.append(f"Python {facts.python_minor}: {facts.python_home}"
                + (f" (OBS {facts.obs_version} loads {', '.join(choice.pythons)})" if choice else ""))

    build = providers.choose_onnxruntime(os_name, facts.gpu_names, facts.force_cpu, cuda=facts.cuda,
                                         nvidia_driver=facts.nvidia_driver,
                                         compute_capability=facts.compute_capability,
                                         python_minor=facts.python_minor)
    reqs = providers.requirements(facts.python_minor, build)
    info.append(f"onnxruntime build: {build.package} ({build.reason})")
    if not facts.skip_packages:
        installed = facts.installed if facts.installed is not None else providers.installed_distributions()
        steps.append(InstallPackages(sys.executable, reqs, providers.missing_requirements(reqs, installed),
                                     providers.conflicting_onnxruntimes(build.package, installed), build.reason))
        if build.package != providers.ORT_CUDA and any(p.startswith("nvidia-") for p in installed):
            notes.append("the CUDA and cuDNN packages (nvidia-*, over 1 GB) of an earlier CUDA install stay in "
                         "this Python: `python -m pip list` names them, `python -m pip uninstall` removes them")

    if os_name in ("windows", "macos"):  # OBS loads its Python from the path in its ini (macOS: the folder
        # holding Python.framework, /Library/Frameworks, which install.sh passes as the Python home)
        config_dir = facts.obs_config_dir or default_obs_config_dir(os_name)
        ini = config_dir / ini_name_for_obs(facts.obs_version or "0")
        if not facts.obs_version:
            raise InstallError("the OBS version is needed on Windows and macOS (--obs-version) to know which ini "
                               "to edit")
        if ini.name == "user.ini" and _older_obs_settings_not_yet_moved(config_dir):
            # OBS 31+ copies an older OBS's global.ini to user.ini on its first start, and refuses (an error
            # box, the user's settings left behind) when user.ini already exists: set it where OBS takes it from
            ini = config_dir / "global.ini"
            info.append("OBS has not yet moved the older OBS's settings to user.ini (it does on its first start): "
                        "the Python path goes into global.ini, which OBS copies there")
        steps.append(SetObsPython(ini, obs_path_value(facts.python_home)))
    elif os_name == "linux" and facts.site_packages:
        steps.append(WritePythonPathFile(Path(facts.repo) / PYTHON_PATH_FILE, list(facts.site_packages)))

    to_download, model_notes = choose(facts.models)
    notes += model_notes
    for m in to_download:
        steps.append(DownloadModel(m, Path(facts.models_dir) / m.file))
    if not facts.models:
        notes.append("no extra models requested: the included MediaPipe models work offline "
                     "(add rvm_mobilenetv3 for the best edges; with a GPU the Low light preset runs it)")
    licenses = [s.model for s in steps if isinstance(s, DownloadModel) and not s.done()]
    return Plan(title, info, steps, notes, licenses)


# ---- uninstall ------------------------------------------------------------------------------------

def _state_path() -> Path:
    return paths.user_data_dir() / STATE_FILE


def load_state() -> dict:
    try:
        return json.loads(_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_state(state: dict) -> None:
    p = _state_path()
    try:
        if state:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(state, indent=1), encoding="utf-8")
        else:
            p.unlink(missing_ok=True)
    except PermissionError:
        raise PermissionDeniedError(f"no write permission for {p}") from None


@dataclass
class UndoObsPython(Step):
    ini: Path
    written: str | None
    previous: str | None = None  # for an ini without a backup of its own (an OBS 31 copy): the pre-install value
    needs_obs_closed = True

    @property
    def description(self) -> str:
        return f"undo [{PY_SECTION}] {PY_KEY} in {self.ini}"

    def done(self) -> bool:
        return False

    def apply(self, log):
        msg = obs_config.undo_value(self.ini, PY_SECTION, PY_KEY, self.written, self.previous)
        state = load_state()
        state.get("ini", {}).pop(str(self.ini), None)
        save_state(state if state.get("ini") else {})
        return msg


@dataclass
class RemoveFile(Step):
    path: Path

    @property
    def description(self) -> str:
        return f"remove {self.path}"

    def done(self) -> bool:
        return not self.path.exists()

    def apply(self, log):
        self.path.unlink(missing_ok=True)
        return f"removed {self.path}"


def _older_obs_settings_not_yet_moved(config_dir: Path) -> bool:
    """An older OBS's global.ini (LastVersion below 31.0) and no user.ini yet: OBS 31+ will move it."""
    if (config_dir / "user.ini").exists():
        return False
    last = obs_config.read_value(config_dir / "global.ini", "General", "LastVersion")
    try:
        version = int(last)
    except (TypeError, ValueError):
        return False
    return 0 < version < (31 << 24)  # libobs' MAKE_SEMANTIC_VERSION(31, 0, 0)


def _value_before_install(recorded: dict[str, str], written: str) -> str | None:
    """The Python path from before the install, from the backup of the ini it wrote `written` to. Read while the
    plan is built: undoing that ini deletes its backup, and its copy (user.ini, made by OBS 31 from global.ini)
    is undone after it. None: the key was not there (or the file did not exist: then it has no backup)."""
    for path, value in recorded.items():
        backup = obs_config.backup_path(Path(path))
        if value == written and backup.is_file():
            return obs_config.read_value(backup, PY_SECTION, PY_KEY)
    return None


def build_uninstall_plan(facts: Facts) -> Plan:
    os_name = providers.normalise_os(facts.os_name)
    steps: list[Step] = []
    notes = []
    if os_name in ("windows", "macos"):
        config_dir = facts.obs_config_dir or default_obs_config_dir(os_name)
        recorded = load_state().get("ini", {})
        for name in ("global.ini", "user.ini"):  # both: the user may have upgraded OBS since installing
            ini = config_dir / name
            current = obs_config.read_value(ini, PY_SECTION, PY_KEY)
            if str(ini) in recorded or obs_config.backup_path(ini).exists():
                written = recorded.get(str(ini), current)
                steps.append(UndoObsPython(ini, written))
            elif current is not None and current in recorded.values():  # OBS 31 copied our global.ini into it
                steps.append(UndoObsPython(ini, current, _value_before_install(recorded, current)))
    ppf = Path(facts.repo) / PYTHON_PATH_FILE
    if ppf.exists():
        steps.append(RemoveFile(ppf))
    notes.append(f"downloaded models stay in {facts.models_dir}; delete that folder to remove them")
    if os_name in ("windows", "macos"):
        notes.append("the Python packages stay in that Python; remove them with "
                     "python -m pip uninstall numpy opencv-python-headless mss onnxruntime (or the GPU build: "
                     "onnxruntime-directml, or onnxruntime-gpu and its nvidia-* CUDA and cuDNN packages, "
                     "`python -m pip list` names them)")
    return Plan(f"obs-matting uninstall plan ({os_name})", [], steps, notes, [])


# ---- running a plan -------------------------------------------------------------------------------

def print_plan(plan: Plan, out: Callable[[str], None]) -> None:
    out(plan.title + ":")
    for line in plan.info:
        out("  " + line)
    for s in plan.steps:
        out(f"  [{'done' if s.done() else 'to do'}] {s.description}")
    for n in plan.notes:
        out("  note: " + n)


def execute(plan: Plan, facts: Facts, *, dry_run: bool, uninstall: bool = False,
            confirm: Callable[[str], bool] | None = None, out: Callable[[str], None] = print) -> list[str]:
    """Apply the plan's open steps; returns the one-line results. Raises InstallError on refusal."""
    todo = [s for s in plan.steps if not s.done()]
    if dry_run:
        print_plan(plan, out)
        for m in plan.licenses:
            out("  license to accept before download:\n    " + license_notice(m).replace("\n", "\n    "))
        out("dry run: nothing was changed")
        return []
    if not todo:
        done = "; ".join(s.description for s in plan.steps) or "nothing installed by this installer"
        out(("nothing to uninstall: " if uninstall else "already installed: nothing to do (") + done
            + ("" if uninstall else ")"))
        for n in plan.notes:
            out("note: " + n)
        return []
    if facts.obs_running and any(s.needs_obs_closed for s in todo):
        raise ObsRunningError("OBS is running: close OBS (File > Exit) and run the installer again; "
                              "OBS reads this setting at start and overwrites its ini files on exit")
    for m in plan.licenses:
        notice = license_notice(m)
        out(notice)
        if facts.accept_licenses:
            out(f"license {m.license} for {m.id}: accepted (--accept-licenses)")
        elif not (confirm and confirm(f"Accept the {m.license} license of {m.id} and download it? [y/N] ")):
            raise LicenseDeclinedError(f"license of {m.id} ({m.license}) not accepted: nothing was downloaded; "
                                       f"accept it interactively or pass --accept-licenses")
    results = []
    for s in todo:
        out(f"- {s.description}")
        results.append(s.apply(out))
        out(f"  ok: {results[-1]}")
        if isinstance(s, SetObsPython):
            state = load_state()
            state.setdefault("ini", {})[str(s.ini)] = s.value
            save_state(state)
    for n in plan.notes:
        out("note: " + n)
    return results
