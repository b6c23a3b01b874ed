"""The installer end to end: the Python command line's exit codes, install.ps1's grammar, and install.sh
run for real (dry run, then a real run into a temp copy of the repo with models from a local server)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import need_shared, need_tool
from obsmatte import paths
from obsmatte.installer import providers
from test_installer_download import ModelServer

ROOT = paths.ROOT
PY = sys.executable


def run_module(*args, env=None, timeout=60):
    e = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), **(env or {})}
    return subprocess.run([PY, "-m", "obsmatte.installer", *args], capture_output=True, text=True,
                          env=e, timeout=timeout)


@pytest.mark.parametrize("args, code, message", [
    (["install", "--os", "windows", "--obs-version", "27.1", "--skip-packages"], 11, "too old"),
    (["install", "--os", "linux", "--skip-packages", "--models", "nope"], 18, "unknown model"),
    (["install", "--os", "linux", "--skip-packages", "--obs-python-minor", "3.9"], 12, "OBS links Python 3.9"),
    (["install", "--os", "beos"], 1, "unknown operating system"),
    (["install", "--bogus"], 2, "unrecognized arguments"),
])
def test_cli_failures_have_one_line_and_distinct_codes(args, code, message, tmp_path):
    r = run_module(*args, "--models-dir", str(tmp_path), env={"OBSMATTE_USER_DIR": str(tmp_path)}) \
        if args[-1] != "--bogus" else run_module(*args)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    if code != 2:
        assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("install: error: ")


def test_cli_license_must_be_accepted_without_a_terminal(tmp_path):
    r = run_module("install", "--os", "linux", "--skip-packages", "--models", "rvm_mobilenetv3",
                   "--models-dir", str(tmp_path), env={"OBSMATTE_USER_DIR": str(tmp_path)})
    assert r.returncode == 17 and "--accept-licenses" in r.stderr
    assert "GPL-3.0" in r.stdout and list(tmp_path.iterdir()) == []


def test_cli_python_for_and_requirements():
    r = run_module("python-for", "--obs-version", "29.1.3")
    assert r.returncode == 0 and r.stdout.split() == ["3.11", "3.10"]
    r = run_module("requirements", "--os", "windows", "--gpu", "AMD Radeon RX 6600", "--python-minor", "3.12")
    assert r.stdout.split() == providers.requirements("3.12", "onnxruntime-directml")
    r = run_module("macos-python", "--obs-version", "30.2.3", "--installed", "3.11,3.12", "--current", "3.11")
    assert r.returncode == 0 and r.stdout.split() == ["3.11"]
    r = run_module("macos-python", "--obs-version", "30.2.3", "--installed", "3.12,3.13", "--current", "3.13")
    assert r.returncode == 12 and "Versions/Current points to" in r.stderr and "it points to 3.13" in r.stderr


# ---- install.ps1 -----------------------------------------------------------------------------------

def _ps_parser():
    ts = pytest.importorskip("tree_sitter", reason="pip install tree-sitter tree-sitter-powershell")
    tsp = pytest.importorskip("tree_sitter_powershell", reason="pip install tree-sitter-powershell")
    return ts.Parser(ts.Language(tsp.language()))


def test_install_ps1_parses_without_errors():
    src = (ROOT / "install.ps1").read_bytes()
    tree = _ps_parser().parse(src)
    assert tree.root_node.type == "program" and not tree.root_node.has_error
    text = src.decode("utf-8")
    for switch in ("$DryRun", "$Uninstall", "$Models", "$AcceptLicenses", "$Cpu", "$Cuda"):
        assert switch in text
    assert "obsmatte.installer" in text and "winget install" in text and "py @('-0p')" in text
    assert "'--query-gpu=driver_version,compute_cap'" in text  # quoted, or PowerShell splits it at the comma


def test_broken_ps1_is_detected_so_the_check_can_fail():
    src = (ROOT / "install.ps1").read_bytes()
    broken = src.replace(b"function Find-Obs {", b"function Find-Obs {{ (", 1)
    assert broken != src
    assert _ps_parser().parse(broken).root_node.has_error


def ps1_function(src: str, name: str) -> str:
    """The text of a function of install.ps1, from `function Name` to its closing brace at the line start."""
    start = src.index(f"function {name}")
    return src[start:src.index("\n}", start) + 2]


def test_install_ps1_redirects_native_stderr_only_where_errors_do_not_stop_the_script():
    """Windows PowerShell 5.1 under $ErrorActionPreference = 'Stop' turns any line a native program writes to a
    redirected stderr (`2>$null` too) into a terminating NativeCommandError: Python's warnings, py's or
    nvidia-smi's complaints stopped the install. Such calls go through Invoke-Quiet, which runs them under
    'Continue'; checked as text (no PowerShell here): no stderr redirection anywhere else."""
    src = (ROOT / "install.ps1").read_text(encoding="utf-8-sig")
    assert "$ErrorActionPreference = 'Stop'" in src
    helper = ps1_function(src, "Invoke-Quiet")
    assert "$ErrorActionPreference = 'Continue'" in helper and "2>$null" in helper and "finally" in helper
    code = [line.split("#")[0] for line in src.replace(helper, "").splitlines()]
    assert not [line for line in code if re.search(r"[2-6*]>", line)], "stderr redirected outside Invoke-Quiet"


def test_install_ps1_asks_nvidia_smi_for_the_driver_alone_when_the_first_query_fails():
    """The fallback query (drivers before 510 refuse compute_cap) sat in the try block that a NativeCommandError
    from the first query left for its catch: it never ran."""
    nvidia = ps1_function((ROOT / "install.ps1").read_text(encoding="utf-8-sig"), "Get-NvidiaFacts")
    queries = [line for line in nvidia.splitlines() if "--query-gpu=" in line]
    assert len(queries) == 2 and all("Invoke-Quiet $smi" in line for line in queries), queries
    first, fallback = (nvidia.index(q) for q in queries)
    assert "catch" not in nvidia[:fallback] and "$LASTEXITCODE -ne 0" in nvidia[first:fallback]


# ---- install.sh ------------------------------------------------------------------------------------

def test_install_sh_syntax():
    assert subprocess.run(["bash", "-n", str(ROOT / "install.sh")], capture_output=True).returncode == 0


@pytest.fixture
def repo_copy(tmp_path):
    """The parts of the repo install.sh needs, in a temp folder, so python-path.txt lands there."""
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    shutil.copy2(ROOT / "install.sh", repo / "install.sh")
    shutil.copytree(ROOT / "lib" / "obsmatte", repo / "lib" / "obsmatte",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "models" / "models.json", repo / "models" / "models.json")
    return repo


def sh_env(tmp_path, **extra):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), "OBSMATTE_USER_DIR": str(tmp_path / "userdata"),
            "LANG": "C.UTF-8", **extra}


def need_obs():
    need_tool("obs", why="OBS Studio; ./setup.sh --test installs it on Debian/Ubuntu")


def test_install_sh_dry_run_prints_plan_and_changes_nothing(repo_copy, tmp_path):
    need_obs()
    env = sh_env(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = subprocess.run(["bash", str(repo_copy / "install.sh"), "--dry-run", "--models", "rvm_mobilenetv3"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "would create a venv with /usr/bin/python3" in r.stdout
    assert "would install: numpy==" in r.stdout
    assert f"[to do] write {repo_copy / 'python-path.txt'}" in r.stdout
    assert "[to do] download rvm_mobilenetv3 (GPL-3.0" in r.stdout
    assert r.stdout.rstrip().endswith("dry run: nothing was changed")
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "__pycache__" not in p.parts)
    assert after == [p for p in before if "__pycache__" not in p.parts]


def _fake_nvidia_smi(folder, name, driver, compute):
    """An nvidia-smi that knows one GPU; without `compute`, an old driver that refuses the compute_cap field."""
    folder.mkdir(exist_ok=True)
    script = folder / "nvidia-smi"
    query = (f'*compute_cap*) echo "{driver}, {compute}" ;;' if compute else
             '*compute_cap*) echo \'Field "compute_cap" is not a valid field to query.\'; exit 2 ;;')
    script.write_text(f"""#!/bin/sh
case "$*" in
  -L) echo "GPU 0: {name} (UUID: GPU-0)" ;;
  {query}
  *driver_version*) echo "{driver}" ;;
esac
""")
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize("driver, compute, expected", [
    ("580.95.05", "8.6", "onnxruntime-gpu[cuda,cudnn]==1.31.1"),
    ("580.95.05", "6.1", "onnxruntime-gpu[cuda,cudnn]==1.26.0"),  # Pascal: CUDA 12 build
    ("470.256.02", None, "onnxruntime==1.31.1"),  # too old a driver for any CUDA build
])
def test_install_sh_gives_the_driver_and_gpu_facts_to_the_cuda_choice(repo_copy, tmp_path, driver, compute,
                                                                        expected):
    need_obs()
    from obsmatte.installer import providers
    minor = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True).stdout.strip()
    if minor not in providers.CUDA_BUILDS[13]:
        pytest.skip(f"the expected pins are for Python 3.11+, OBS links {minor}")
    bin_dir = _fake_nvidia_smi(tmp_path / "bin", "NVIDIA GeForce RTX 3060", driver, compute)
    env = sh_env(tmp_path, PATH=f"{bin_dir}:{os.environ['PATH']}")
    r = subprocess.run(["bash", str(repo_copy / "install.sh"), "--dry-run"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would install: numpy==" in r.stdout and f" {expected}" in r.stdout, r.stdout
    assert f"driver {driver}" in r.stdout or "no CUDA build fits" in r.stdout, r.stdout


def test_install_sh_names_a_flatpak_obs_instead_of_not_found(repo_copy, tmp_path):
    """Only the Flatpak OBS on the machine: a clear refusal that names it, not 'OBS not found'."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "uname", "cat", "tr", "sed", "head"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    flatpak = bin_dir / "flatpak"
    flatpak.write_text('#!/bin/sh\n[ "$1 $2" = "info com.obsproject.Studio" ] && exit 0\nexit 1\n')
    flatpak.chmod(0o755)
    env = sh_env(tmp_path, PATH=str(bin_dir))  # no `obs` command on this PATH
    r = subprocess.run([shutil.which("bash"), str(repo_copy / "install.sh"), "--dry-run"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 10, r.stdout + r.stderr
    assert "installed as a Flatpak (com.obsproject.Studio)" in r.stderr
    flatpak.write_text("#!/bin/sh\nexit 1\n")  # a flatpak without OBS: the plain message
    r = subprocess.run([shutil.which("bash"), str(repo_copy / "install.sh"), "--dry-run"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 10 and "OBS Studio not found" in r.stderr, r.stderr


@pytest.fixture
def rvm_server(tmp_path, repo_copy):
    """Serves the shared RVM model and points a manifest copy at it (the real release URL is offline here)."""
    payload = need_shared("models", "rvm_mobilenetv3_u8w.onnx").read_bytes()
    srv = ModelServer(payload)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    manifest = json.loads((repo_copy / "models" / "models.json").read_text())
    for m in manifest["models"]:
        if m["id"] == "rvm_mobilenetv3":
            m["download"] = {"url": srv.url, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    yield srv, path, payload
    srv.shutdown()
    srv.server_close()
    t.join(timeout=5)


def test_install_sh_real_run_twice_then_uninstall(repo_copy, tmp_path, rvm_server):
    """A real run into the existing dev venv (its packages already match the pins, so pip has nothing to
    do and nothing in it changes), a model downloaded from the local server, then a no-op second run."""
    need_obs()
    venv = ROOT / ".venv"
    vpy = venv / "bin" / "python"
    reqs = providers.requirements(f"{sys.version_info[0]}.{sys.version_info[1]}", "onnxruntime")
    if Path(sys.prefix) != venv or providers.missing_requirements(reqs, providers.installed_distributions()):
        pytest.skip("needs the dev .venv with the pinned packages (so this test never pip installs into it)")
    srv, manifest, payload = rvm_server
    env = sh_env(tmp_path, OBSMATTE_MANIFEST=str(manifest))
    cmd = ["bash", str(repo_copy / "install.sh"), "--venv", str(venv), "--models", "rvm_mobilenetv3",
           "--accept-licenses"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    site = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True).stdout.strip()
    assert (repo_copy / "python-path.txt").read_text() == site + "\n"
    model = tmp_path / "userdata" / "models" / "rvm_mobilenetv3_fp32.onnx"
    assert model.read_bytes() == payload
    assert "license GPL-3.0 for rvm_mobilenetv3: accepted" in r.stdout
    assert f"Tools > Scripts > + > {repo_copy}/obs_matting.py" in r.stdout

    r2 = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r2.returncode == 0 and "already installed: nothing to do" in r2.stdout
    assert len(srv.requests) == 1  # the verified model was not fetched again

    r3 = subprocess.run(["bash", str(repo_copy / "install.sh"), "--uninstall", "--venv", str(venv)],
                        capture_output=True, text=True, env=env, timeout=60)
    assert r3.returncode == 0, r3.stderr
    assert not (repo_copy / "python-path.txt").exists() and vpy.exists()


def test_install_sh_refuses_a_non_empty_folder_as_its_venv(repo_copy, tmp_path):
    """Uninstall deletes the venv the script made: a folder of the user's own must never become one."""
    need_obs()
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    r = subprocess.run(["bash", str(repo_copy / "install.sh"), "--dry-run", "--venv", str(folder)],
                       capture_output=True, text=True, env=sh_env(tmp_path), timeout=60)
    assert r.returncode == 15 and "is not empty and holds no venv" in r.stderr, r.stdout + r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_install_sh_recreates_its_venv_for_the_python_obs_links_now(repo_copy, tmp_path):
    """A venv the script made for another Python (OBS or the system upgraded since) is made again, instead of
    the Python installer asking, run after run, for a venv with the Python OBS links."""
    need_obs()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".obs-matting-venv").touch()
    fake = venv / "bin" / "python"
    fake.write_text("#!/bin/sh\necho 3.9\n")  # what the old venv's Python answers to the version question
    fake.chmod(0o755)
    r = subprocess.run(["bash", str(repo_copy / "install.sh"), "--dry-run", "--venv", str(venv)],
                       capture_output=True, text=True, env=sh_env(tmp_path), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would recreate the venv" in r.stdout and "it has Python 3.9, OBS links 3." in r.stdout
    assert "would create a venv with /usr/bin/python3" in r.stdout


def test_install_ps1_keeps_a_one_item_python_list_a_list():
    """PowerShell unrolls a one-item array returned by a function into its item: OBS 28.0-29.0 accept only
    Python 3.10, and "3.10"[0] is '3' (the installer then looked for 'Python 3'). Every caller wraps it."""
    src = (ROOT / "install.ps1").read_text(encoding="utf-8-sig")
    calls = [line for line in src.splitlines()
             if "Get-PythonChoices" in line and not line.lstrip().startswith(("function", "#"))]
    assert calls and all("@(Get-PythonChoices" in line for line in calls), calls
