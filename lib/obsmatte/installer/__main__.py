"""`python -m obsmatte.installer install|uninstall|python-for|requirements ...`

Called by install.ps1 / install.sh with the facts they collected; usable by hand too. Every failure prints
one line starting with "install: error:" and exits with the code listed in failures.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import providers
from .failures import EXIT_OK, InstallError
from .obs_process import obs_is_running
from .obs_versions import macos_framework_python, python_for_obs
from .plan import Facts, build_install_plan, build_uninstall_plan, execute


def _list(values: list[str] | None) -> list[str]:
    """Accept both `--models a,b` and `--models a --models b`."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m obsmatte.installer", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--os", default=sys.platform, help="windows, linux or macos [default: this one]")
    common.add_argument("--gpu", action="append", help="a GPU adapter name (repeat for several)")
    common.add_argument("--cpu", action="store_true", help="install the CPU onnxruntime even with a GPU")
    common.add_argument("--cuda", action="store_true",
                        help="Windows, NVIDIA GPU: the CUDA build (~1.5 GB with its libraries) instead of DirectML")
    common.add_argument("--nvidia-driver", help="the NVIDIA driver version (nvidia-smi's, or Windows' form)")
    common.add_argument("--compute-capability", help="the NVIDIA GPU's compute capability, e.g. 8.6")

    for name, helptext in (("install", "install or repair (safe to run again)"),
                           ("uninstall", "undo what install changed")):
        p = sub.add_parser(name, parents=[common], help=helptext)
        p.add_argument("--obs-version", help="OBS version, e.g. 30.2.3 (Windows: picks global.ini or user.ini)")
        p.add_argument("--python-home", default=sys.base_prefix,
                       help="the python.org install folder OBS should load [default: this Python's]")
        p.add_argument("--obs-python-minor", help="Linux: the Python minor OBS links, e.g. 3.11")
        p.add_argument("--site-packages", action="append", help="Linux: a folder for python-path.txt")
        p.add_argument("--models", action="append", help="model ids to download, comma-separated")
        p.add_argument("--models-dir", type=Path, help="where models go [default: the user models folder]")
        p.add_argument("--obs-config-dir", type=Path, help="OBS's config folder [default: %%APPDATA%%\\obs-studio]")
        p.add_argument("--repo", type=Path, help="the project checkout (for python-path.txt)")
        p.add_argument("--obs-running", choices=("auto", "yes", "no"), default="auto",
                       help="whether OBS runs now (auto: look at the process list)")
        p.add_argument("--accept-licenses", action="store_true", help="accept model licenses without asking")
        p.add_argument("--skip-packages", action="store_true", help="do not pip install (managed elsewhere)")
        p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    p = sub.add_parser("python-for", help="the Python minors an OBS version loads, preferred first")
    p.add_argument("--obs-version", required=True)
    p = sub.add_parser("macos-python", help="macOS: the framework Python minor OBS will load, among those installed")
    p.add_argument("--obs-version", required=True)
    p.add_argument("--installed", action="append", help="installed framework minors, comma-separated")
    p.add_argument("--current", help="the minor Python.framework/Versions/Current points to")
    p = sub.add_parser("requirements", parents=[common], help="pinned pip requirements, one per line")
    p.add_argument("--python-minor", default=f"{sys.version_info[0]}.{sys.version_info[1]}")
    p.add_argument("--missing", action="store_true", help="only those this Python lacks")
    return parser


def _facts(args) -> Facts:
    os_name = providers.normalise_os(args.os)
    running = {"yes": True, "no": False}.get(args.obs_running)
    if running is None:
        running = obs_is_running(os_name)
    f = Facts(os_name=os_name, obs_version=args.obs_version, python_home=args.python_home,
              obs_python_minor=args.obs_python_minor, site_packages=args.site_packages or [],
              gpu_names=args.gpu or [], force_cpu=args.cpu, cuda=args.cuda, nvidia_driver=args.nvidia_driver,
              compute_capability=args.compute_capability, models=_list(args.models),
              obs_config_dir=args.obs_config_dir, obs_running=running,
              accept_licenses=args.accept_licenses, skip_packages=args.skip_packages)
    if args.models_dir:
        f.models_dir = args.models_dir
    if args.repo:
        f.repo = args.repo
    return f


def _ask(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        return False
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "python-for":
            choice = python_for_obs(args.obs_version)
            if choice.warning:
                print("install: warning: " + choice.warning, file=sys.stderr)
            print(" ".join(choice.pythons))
            return EXIT_OK
        if args.command == "macos-python":
            warning = python_for_obs(args.obs_version).warning
            if warning:
                print("install: warning: " + warning, file=sys.stderr)
            print(macos_framework_python(args.obs_version, _list(args.installed), args.current or None))
            return EXIT_OK
        if args.command == "requirements":
            build = providers.choose_onnxruntime(args.os, args.gpu or [], args.cpu, cuda=args.cuda,
                                                 nvidia_driver=args.nvidia_driver,
                                                 compute_capability=args.compute_capability,
                                                 python_minor=args.python_minor)
            reqs = providers.requirements(args.python_minor, build)
            if args.missing:
                reqs = providers.missing_requirements(reqs, providers.installed_distributions())
            print("\n".join(reqs))
            return EXIT_OK
        facts = _facts(args)
        if args.command == "uninstall":
            plan = build_uninstall_plan(facts)
        else:
            plan = build_install_plan(facts)
        execute(plan, facts, dry_run=args.dry_run, uninstall=args.command == "uninstall", confirm=_ask)
        return EXIT_OK
    except InstallError as e:
        print(f"install: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("install: interrupted; run it again to finish (downloads resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
