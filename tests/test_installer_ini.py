"""OBS ini editing and the Windows install/uninstall plan, in temp folders shaped like
%APPDATA%\\obs-studio (global.ini for OBS <= 30, user.ini from 31), with BOM and CRLF files."""
from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from obsmatte.installer import obs_config
from obsmatte.installer.failures import ObsRunningError, PythonMismatchError
from obsmatte.installer.plan import Facts, build_install_plan, build_uninstall_plan, execute

PY_HOME = r"C:\Users\Streamer\AppData\Local\Programs\Python\Python312"
PY_VALUE = "C:/Users/Streamer/AppData/Local/Programs/Python/Python312"

# What OBS 30 writes: UTF-8 with BOM, CRLF, sections in OBS's own order, a non-ASCII value.
GLOBAL_INI = ("[General]\r\nPre19Defaults=false\r\nPre21Defaults=false\r\nFirstRun=true\r\n"
              "LastVersion=503447555\r\n\r\n[BasicWindow]\r\ngeometry=AdnQywADAAAAAAKAAAABYw==\r\n"
              "ShowStatusBar=true\r\n\r\n[Python]\r\nPath64bit=C:/Python310\r\n\r\n"
              "[PropertiesWindow]\r\ncx=720\r\ncy=580\r\n\r\n[Basic]\r\nProfile=Sc\u00e8ne \u914d\u4fe1\r\n")
USER_INI = "[General]\nFirstRun=true\n\n[BasicWindow]\nSysTrayEnabled=true\n"  # OBS 31: no [Python] yet


@pytest.fixture
def appdata(tmp_path, monkeypatch):
    """A fake %APPDATA% with obs-studio/ and the installer's own state folder inside it."""
    monkeypatch.setenv("OBSMATTE_USER_DIR", str(tmp_path / "obs-matting"))
    (tmp_path / "obs-studio").mkdir()
    return tmp_path


def write(p: Path, text: str, bom: bool = True) -> bytes:
    data = (codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8")
    p.write_bytes(data)
    return data


def facts(appdata: Path, obs_version="30.2.3", **kw) -> Facts:
    return Facts(os_name="windows", obs_version=obs_version, python_minor="3.12", python_home=PY_HOME,
                 obs_config_dir=appdata / "obs-studio", skip_packages=True, models_dir=appdata / "models",
                 repo=appdata / "repo", **kw)


def lines_out():
    out: list[str] = []
    return out, out.append


def test_set_value_changes_only_our_line_keeping_bom_crlf_and_order(tmp_path):
    ini = tmp_path / "global.ini"
    original = write(ini, GLOBAL_INI)
    assert obs_config.set_value(ini, "Python", "Path64bit", PY_VALUE)
    expected = original.replace(b"Path64bit=C:/Python310\r\n", f"Path64bit={PY_VALUE}\r\n".encode())
    assert ini.read_bytes() == expected
    assert obs_config.backup_path(ini).read_bytes() == original


def test_set_value_adds_section_in_file_style(tmp_path):
    ini = tmp_path / "user.ini"
    original = write(ini, USER_INI, bom=False)
    obs_config.set_value(ini, "Python", "Path64bit", PY_VALUE)
    assert ini.read_bytes() == original + f"\n[Python]\nPath64bit={PY_VALUE}\n".encode()
    # a key added to an existing section goes after its last line, before the blank separator
    write(ini, "[Python]\r\nOther=1\r\n\r\n[X]\r\na=b", bom=False)
    obs_config.set_value(ini, "Python", "Path64bit", "P")
    assert ini.read_bytes() == b"[Python]\r\nOther=1\r\nPath64bit=P\r\n\r\n[X]\r\na=b"


def test_bytes_that_are_not_utf8_survive(tmp_path):
    ini = tmp_path / "global.ini"
    original = b"[Basic]\nProfile=Sc\xe8ne\n[Python]\nPath64bit=old\n"  # a cp1252 byte
    ini.write_bytes(original)
    obs_config.set_value(ini, "Python", "Path64bit", "new")
    assert ini.read_bytes() == original.replace(b"=old", b"=new")


def test_utf16_file_keeps_its_encoding(tmp_path):
    ini = tmp_path / "global.ini"
    ini.write_bytes(codecs.BOM_UTF16_LE + "[General]\r\nA=1\r\n".encode("utf-16-le"))
    obs_config.set_value(ini, "Python", "Path64bit", "X")
    data = ini.read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE)
    assert data[2:].decode("utf-16-le") == "[General]\r\nA=1\r\n\r\n[Python]\r\nPath64bit=X\r\n"


@pytest.mark.parametrize("obs_version, ini_name, content, bom", [
    ("30.2.3", "global.ini", GLOBAL_INI, True),
    ("31.0.1", "user.ini", USER_INI, False),
])
def test_install_twice_then_uninstall_restores_exactly(appdata, obs_version, ini_name, content, bom):
    ini = appdata / "obs-studio" / ini_name
    original = write(ini, content, bom)
    other = appdata / "obs-studio" / ("user.ini" if ini_name == "global.ini" else "global.ini")
    other_bytes = write(other, "[General]\r\nKeep=me\r\n")

    out, say = lines_out()
    execute(build_install_plan(facts(appdata, obs_version)), facts(appdata, obs_version), dry_run=False, out=say)
    assert obs_config.read_value(ini, "Python", "Path64bit") == PY_VALUE
    backup = obs_config.backup_path(ini)
    assert backup.read_bytes() == original
    assert other.read_bytes() == other_bytes and not obs_config.backup_path(other).exists()
    after_first = ini.read_bytes()

    # second run: nothing to do, says so, file and backup untouched
    backup.write_bytes(original)  # (same bytes; the mtime must not matter)
    out, say = lines_out()
    execute(build_install_plan(facts(appdata, obs_version)), facts(appdata, obs_version), dry_run=False, out=say)
    assert out[0].startswith("already installed: nothing to do")
    assert ini.read_bytes() == after_first and backup.read_bytes() == original

    out, say = lines_out()
    execute(build_uninstall_plan(facts(appdata)), facts(appdata), dry_run=False, uninstall=True, out=say)
    assert ini.read_bytes() == original
    assert not backup.exists() and other.read_bytes() == other_bytes
    out, say = lines_out()  # and uninstall is idempotent too
    execute(build_uninstall_plan(facts(appdata)), facts(appdata), dry_run=False, uninstall=True, out=say)
    assert out[0].startswith("nothing to uninstall") and ini.read_bytes() == original


def test_uninstall_keeps_settings_obs_saved_after_install(appdata):
    ini = appdata / "obs-studio" / "global.ini"
    write(ini, GLOBAL_INI)
    execute(build_install_plan(facts(appdata)), facts(appdata), dry_run=False, out=lambda s: None)
    # OBS ran meanwhile and saved a new window geometry
    changed = ini.read_bytes().replace(b"cx=720", b"cx=1024")
    ini.write_bytes(changed)
    execute(build_uninstall_plan(facts(appdata)), facts(appdata), dry_run=False, uninstall=True, out=lambda s: None)
    assert ini.read_bytes() == changed.replace(f"Path64bit={PY_VALUE}".encode(), b"Path64bit=C:/Python310")


def test_install_creates_missing_ini_and_uninstall_removes_it(appdata):
    ini = appdata / "obs-studio" / "user.ini"
    execute(build_install_plan(facts(appdata, "31.1")), facts(appdata, "31.1"), dry_run=False, out=lambda s: None)
    assert ini.read_bytes() == f"[Python]\nPath64bit={PY_VALUE}\n".encode()
    execute(build_uninstall_plan(facts(appdata)), facts(appdata), dry_run=False, uninstall=True, out=lambda s: None)
    assert not ini.exists()


def test_dry_run_prints_plan_and_changes_nothing(appdata):
    ini = appdata / "obs-studio" / "global.ini"
    original = write(ini, GLOBAL_INI)
    out, say = lines_out()
    execute(build_install_plan(facts(appdata)), facts(appdata), dry_run=True, out=say)
    text = "\n".join(out)
    assert f"[to do] set [Python] Path64bit={PY_VALUE}" in text and "dry run: nothing was changed" in text
    assert ini.read_bytes() == original
    assert sorted(p.name for p in (appdata / "obs-studio").iterdir()) == ["global.ini"]
    assert not (appdata / "obs-matting").exists()


def test_refuses_while_obs_runs_and_changes_nothing(appdata):
    ini = appdata / "obs-studio" / "global.ini"
    original = write(ini, GLOBAL_INI)
    f = facts(appdata, obs_running=True)
    with pytest.raises(ObsRunningError, match="OBS is running: close OBS") as e:
        execute(build_install_plan(f), f, dry_run=False, out=lambda s: None)
    assert e.value.exit_code == 16
    assert ini.read_bytes() == original and not obs_config.backup_path(ini).exists()


def test_python_that_obs_cannot_load_is_refused(appdata):
    f = facts(appdata, "30.0.2")  # 3.12 is too new for OBS 30.0
    with pytest.raises(PythonMismatchError, match=r"cannot load Python 3\.12.*3\.11 or 3\.10"):
        build_install_plan(f)


def test_unwritable_ini_is_a_permission_error_with_its_own_exit_code(appdata, monkeypatch):
    """Root ignores file modes here, so the OS refusal is simulated at os.replace (the atomic write)."""
    ini = appdata / "obs-studio" / "global.ini"
    original = write(ini, GLOBAL_INI)

    def refuse(src, dst):
        raise PermissionError(13, "Access is denied", str(dst))
    monkeypatch.setattr(obs_config.os, "replace", refuse)
    from obsmatte.installer.failures import PermissionDeniedError
    with pytest.raises(PermissionDeniedError, match="no write permission for .*global.ini") as e:
        execute(build_install_plan(facts(appdata)), facts(appdata), dry_run=False, out=lambda s: None)
    assert e.value.exit_code == 15
    assert ini.read_bytes() == original
    assert not list((appdata / "obs-studio").glob("*.obs-matting-tmp"))


def test_obs31_not_yet_started_after_an_upgrade_gets_the_setting_in_global_ini(appdata):
    """OBS 31+ copies an older OBS's global.ini to user.ini on its first start, and refuses (an error box,
    the user's settings left behind) when user.ini exists: the installer must not create user.ini then."""
    config = appdata / "obs-studio"
    global_ini = config / "global.ini"
    write(global_ini, "[General]\r\nLastVersion=503316480\r\n")  # 30.0.0
    execute(build_install_plan(facts(appdata, "31.1")), facts(appdata, "31.1"), dry_run=False, out=lambda s: None)
    assert not (config / "user.ini").exists()
    assert obs_config.read_value(global_ini, "Python", "Path64bit") == PY_VALUE
    # OBS 31 then moves it; uninstall takes our setting out of user.ini too
    (config / "user.ini").write_bytes(global_ini.read_bytes())
    execute(build_uninstall_plan(facts(appdata)), facts(appdata), dry_run=False, uninstall=True, out=lambda s: None)
    assert obs_config.read_value(config / "user.ini", "Python", "Path64bit") is None
    assert obs_config.read_value(global_ini, "Python", "Path64bit") is None


def test_uninstall_after_obs31_moved_the_settings_puts_the_old_path_back_in_user_ini(appdata):
    """Installed into global.ini before OBS 31's first start, which copied it to user.ini: user.ini has no backup
    of its own, so the Python path from before the install comes from global.ini's (deleting the key left OBS
    with no Python path, the old one only in global.ini, which OBS 31 no longer reads)."""
    config = appdata / "obs-studio"
    global_ini = config / "global.ini"
    original = write(global_ini, "[General]\r\nLastVersion=503316480\r\n\r\n[Python]\r\nPath64bit=C:/Python310\r\n")
    execute(build_install_plan(facts(appdata, "31.1")), facts(appdata, "31.1"), dry_run=False, out=lambda s: None)
    (config / "user.ini").write_bytes(global_ini.read_bytes())  # OBS 31's first start
    out, say = lines_out()
    execute(build_uninstall_plan(facts(appdata)), facts(appdata), dry_run=False, uninstall=True, out=say)
    assert obs_config.read_value(config / "user.ini", "Python", "Path64bit") == "C:/Python310", out
    assert global_ini.read_bytes() == original
    assert not obs_config.backup_path(global_ini).exists() and not obs_config.backup_path(config / "user.ini").exists()


@pytest.mark.parametrize("obs_saved_since", [False, True])
def test_uninstall_leaves_a_python_path_the_user_chose_after_the_install(appdata, obs_saved_since):
    """The user picked another Python in OBS's Python Settings after installing: that choice stays (uninstall put
    the pre-install path back over it), and the file is left as it is."""
    ini = appdata / "obs-studio" / "global.ini"
    write(ini, GLOBAL_INI)
    execute(build_install_plan(facts(appdata)), facts(appdata), dry_run=False, out=lambda s: None)
    chosen = ini.read_bytes().replace(f"Path64bit={PY_VALUE}".encode(), b"Path64bit=D:/Python312")
    if obs_saved_since:
        chosen = chosen.replace(b"cx=720", b"cx=1024")
    ini.write_bytes(chosen)
    out, say = lines_out()
    execute(build_uninstall_plan(facts(appdata)), facts(appdata), dry_run=False, uninstall=True, out=say)
    assert ini.read_bytes() == chosen
    assert "was changed after the install (to D:/Python312): left unchanged" in "\n".join(out)
    assert not obs_config.backup_path(ini).exists()  # from before the install: it no longer says what to go back to


def test_obs31_already_started_keeps_using_user_ini(appdata):
    config = appdata / "obs-studio"
    write(config / "global.ini", "[General]\r\nLastVersion=520093696\r\n")  # 31.0.0: moved already
    execute(build_install_plan(facts(appdata, "31.1")), facts(appdata, "31.1"), dry_run=False, out=lambda s: None)
    assert obs_config.read_value(config / "user.ini", "Python", "Path64bit") == PY_VALUE
    assert obs_config.read_value(config / "global.ini", "Python", "Path64bit") is None


def test_swapping_onnxruntime_builds_puts_the_wanted_one_back(monkeypatch):
    """The builds share the `onnxruntime` folder: uninstalling the other one deletes files of the wanted one,
    which pip still counts installed, so it is reinstalled; an empty `pip install` (an error) never runs."""
    from obsmatte.installer import plan as plan_module
    commands = []
    monkeypatch.setattr(plan_module, "_run", lambda cmd, log: commands.append(cmd[3:]))
    step = plan_module.InstallPackages("py", ["numpy==2.2.6", "onnxruntime-gpu==1.31.1"], [], ["onnxruntime"], "GPU")
    step.apply(lambda s: None)
    assert commands == [["uninstall", "-y", "onnxruntime"],
                        ["install", "--disable-pip-version-check", "--force-reinstall", "--no-deps",
                         "onnxruntime-gpu==1.31.1"]]
    commands.clear()
    # the CUDA build's extras (its CUDA and cuDNN packages) are not installed by --no-deps: a second pip run does
    gpu = "onnxruntime-gpu[cuda,cudnn]==1.31.1"
    plan_module.InstallPackages("py", ["numpy==2.4.6", gpu], [gpu], ["onnxruntime-directml"], "GPU").apply(
        lambda s: None)
    assert commands == [["uninstall", "-y", "onnxruntime-directml"],
                        ["install", "--disable-pip-version-check", "--force-reinstall", "--no-deps", gpu],
                        ["install", "--disable-pip-version-check", gpu]]
    commands.clear()
    plan_module.InstallPackages("py", ["numpy==2.2.6"], ["numpy==2.2.6"], [], "CPU").apply(lambda s: None)
    assert commands == [["install", "--disable-pip-version-check", "numpy==2.2.6"]]


def test_leaving_the_cuda_build_says_its_libraries_stay(appdata):
    """Swapping the CUDA build for DirectML uninstalls onnxruntime-gpu only: its nvidia-* packages (over 1 GB)
    stay, and the plan says so."""
    installed = {"onnxruntime-gpu": "1.31.1", "nvidia-cudnn-cu13": "9.14.0.64", "numpy": "2.4.6"}
    f = facts(appdata, installed=installed, gpu_names=["NVIDIA GeForce RTX 4070"])
    f.skip_packages = False
    plan = build_install_plan(f)
    step = next(s for s in plan.steps if s.__class__.__name__ == "InstallPackages")
    assert step.remove == ["onnxruntime-gpu"] and step.requirements[-1].startswith("onnxruntime-directml==")
    assert any("nvidia-*" in n for n in plan.notes)
    f.installed = {"onnxruntime-gpu": "1.31.1", "numpy": "2.4.6"}
    assert not any("nvidia-*" in n for n in build_install_plan(f).notes)


def test_macos_sets_the_framework_folder_as_obs_python_path(appdata):
    """OBS on macOS reads [Python] Path64bit like on Windows and appends Python.framework/Versions/3.X to it:
    the installer writes /Library/Frameworks (before, the user had to set it by hand), and undoes it."""
    config = appdata / "obs-studio"
    write(config / "user.ini", "[General]\nLastVersion=520159232\n", bom=False)
    f = Facts(os_name="macos", obs_version="31.1.2", python_minor="3.12", python_home="/Library/Frameworks",
              obs_config_dir=config, skip_packages=True, models_dir=appdata / "models", repo=appdata / "repo")
    execute(build_install_plan(f), f, dry_run=False, out=lambda s: None)
    assert obs_config.read_value(config / "user.ini", "Python", "Path64bit") == "/Library/Frameworks"
    execute(build_uninstall_plan(f), f, dry_run=False, uninstall=True, out=lambda s: None)
    assert obs_config.read_value(config / "user.ini", "Python", "Path64bit") is None


def test_install_sh_gives_macos_the_framework_folder_and_what_obs_will_load():
    """install.sh's macOS half cannot run here (no /Applications, no /Library/Frameworks): its hand-over is
    checked as text."""
    src = (Path(__file__).resolve().parent.parent / "install.sh").read_text(encoding="utf-8")
    macos = src[src.index("main_macos() {"):]
    assert "macos-python --obs-version" in macos and "--installed" in macos and "--current" in macos
    assert "--python-home /Library/Frameworks" in macos
    assert 'readlink "$versions/Current"' in macos


def shell_function(src: str, name: str) -> str:
    """The text of a function of install.sh, from `name() {` to its closing brace at the line start."""
    start = src.index(f"{name}() {{")
    return src[start:src.index("\n}\n", start) + 3]


@pytest.mark.parametrize("given, code, output", [
    ("", 10, "cannot read the OBS version from"),  # no defaults command here: the read fails, as when it does on a Mac
    ("31.1.2", 0, "31.1.2"),
])
def test_install_sh_macos_does_not_guess_an_obs_version_it_cannot_read(tmp_path, given, code, output):
    """A failed `defaults read` of OBS.app's version was taken as OBS 30.0: on OBS 31+ that edits global.ini instead
    of user.ini and picks the Python from the wrong row. It stops (exit 10) and names --obs-version instead. The
    function runs alone: the rest of install.sh's macOS half cannot run here."""
    import subprocess
    src = (Path(__file__).resolve().parent.parent / "install.sh").read_text(encoding="utf-8")
    prelude = src[:src.index("\nmodels=")]  # set -euo pipefail, the exit codes, die and say
    script = tmp_path / "version.sh"
    script.write_text(prelude + f"\nobs_version='{given}'\n" + shell_function(src, "macos_obs_version")
                      + f"macos_obs_version '{tmp_path / 'OBS.app'}'\n")
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert r.returncode == code and output in r.stdout + r.stderr, r.stdout + r.stderr
    if code:
        assert "pass it with --obs-version X.Y" in r.stderr and r.stdout == ""


def test_install_sh_takes_obs_version_as_an_option(tmp_path):
    import subprocess
    install_sh = Path(__file__).resolve().parent.parent / "install.sh"
    r = subprocess.run(["bash", str(install_sh), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--obs-version X.Y" in r.stdout
    r = subprocess.run(["bash", str(install_sh), "--obs-version", "latest"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "--obs-version needs a version like 31.1" in r.stderr, r.stderr
