"""Installer failures: one line for the user and a distinct exit code per cause, shared with the shells.

install.ps1 and install.sh use the same numbers for the failures they detect themselves (no OBS, no
Python, OBS running, pip failed), so a caller can tell causes apart without parsing text.
"""
from __future__ import annotations

from ..errors import MattingError

EXIT_OK = 0
EXIT_USAGE = 2  # argparse's own code for bad flags
EXIT_NO_OBS = 10
EXIT_OBS_UNSUPPORTED = 11
EXIT_NO_PYTHON = 12
EXIT_NETWORK = 13
EXIT_CHECKSUM = 14
EXIT_NO_PERMISSION = 15
EXIT_OBS_RUNNING = 16
EXIT_LICENSE_DECLINED = 17
EXIT_BAD_MODEL = 18
EXIT_PIP_FAILED = 19


class InstallError(MattingError):
    """Base: str() is the one-line message, exit_code the process exit status."""

    exit_code = 1


class ObsNotFoundError(InstallError):
    exit_code = EXIT_NO_OBS


class ObsUnsupportedError(InstallError):
    exit_code = EXIT_OBS_UNSUPPORTED


class PythonMismatchError(InstallError):
    exit_code = EXIT_NO_PYTHON


class NetworkError(InstallError):
    exit_code = EXIT_NETWORK


class ChecksumError(InstallError):
    exit_code = EXIT_CHECKSUM


class PermissionDeniedError(InstallError):
    exit_code = EXIT_NO_PERMISSION


class ObsRunningError(InstallError):
    exit_code = EXIT_OBS_RUNNING


class LicenseDeclinedError(InstallError):
    exit_code = EXIT_LICENSE_DECLINED


class ModelChoiceError(InstallError):
    exit_code = EXIT_BAD_MODEL
