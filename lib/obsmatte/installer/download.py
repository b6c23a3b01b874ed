"""Verified, resumable downloads: never a half or wrong file under the final name.

Bytes go to "<final>.part"; a later attempt (or a later run) asks the server for the rest with an HTTP
Range request. Only a file whose size and sha256 match the manifest is renamed into place. A checksum
mismatch deletes the .part (its bytes cannot be trusted for a resume either) and fails.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .failures import ChecksumError, NetworkError, PermissionDeniedError

CHUNK = 256 * 1024
# Errors that mean "the connection went wrong, try again"; HTTP status errors are handled apart.
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)


@dataclass(frozen=True)
class Expected:
    url: str
    size: int
    sha256: str


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_verified(path: Path, expected: Expected) -> bool:
    return path.is_file() and path.stat().st_size == expected.size and sha256_of(path) == expected.sha256.lower()


def part_path(final: Path) -> Path:
    return final.with_name(final.name + ".part")


def _fetch_into(part: Path, expected: Expected, timeout: float, progress: Callable[[int, int], None]) -> None:
    """One attempt: resume from the .part's size; returns when the server stops sending."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > expected.size:  # longer than the real file: not resumable
        part.unlink()
        offset = 0
    if offset == expected.size:
        return
    req = urllib.request.Request(expected.url, headers={"User-Agent": "obs-matting-installer"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # our range starts at/after the end: start over cleanly
            part.unlink()
        raise
    with resp:
        if offset and resp.status != 206:  # server ignored the Range header and sends everything
            offset = 0
        with open(part, "ab" if offset else "wb") as out:
            got = offset
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                out.write(block)
                got += len(block)
                progress(got, expected.size)


def download_verified(expected: Expected, final: Path, *, retries: int = 4, backoff: float = 1.0,
                      timeout: float = 30.0, progress: Callable[[int, int], None] | None = None,
                      log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Path:
    """Download `expected.url` to `final`; returns `final`. Raises NetworkError / ChecksumError /
    PermissionDeniedError with a one-line message."""
    final = Path(final)
    part = part_path(final)
    progress = progress or _Progress(final.name, log)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for attempt in range(retries + 1):
            if attempt:
                delay = backoff * (2 ** (attempt - 1))
                log(f"  retrying in {delay:g}s ({last_error})")
                time.sleep(delay)
            try:
                _fetch_into(part, expected, timeout, progress)
            except urllib.error.HTTPError as e:
                if e.code == 416 or e.code >= 500:  # restartable / a server hiccup
                    last_error = f"HTTP {e.code}"
                    continue
                raise NetworkError(f"download refused: HTTP {e.code} {e.reason} for {expected.url}") from None
            except _TRANSIENT as e:
                last_error = str(getattr(e, "reason", e)) or type(e).__name__
                continue
            size = part.stat().st_size if part.exists() else 0
            if size < expected.size:
                last_error = f"connection closed after {size} of {expected.size} bytes"
                continue
            break
        else:
            raise NetworkError(f"download failed after {retries + 1} attempts ({last_error}): {expected.url}; "
                               f"check the network and run the installer again (it resumes)")
        return _verify_and_place(part, final, expected)
    except PermissionError as e:
        raise PermissionDeniedError(f"no write permission for {e.filename or final.parent}; "
                                    f"choose another models folder or fix its permissions") from None


def _verify_and_place(part: Path, final: Path, expected: Expected) -> Path:
    size = part.stat().st_size
    digest = sha256_of(part) if size == expected.size else ""
    if size != expected.size or digest != expected.sha256.lower():
        part.unlink()
        what = (f"size {size} bytes, expected {expected.size}" if size != expected.size
                else f"sha256 {digest}, expected {expected.sha256}")
        raise ChecksumError(f"downloaded file is corrupt or not the expected one ({what}); "
                            f"deleted it, nothing was installed: {expected.url}")
    os.replace(part, final)  # atomic on one filesystem: the final name only ever holds a verified file
    return final


class _Progress:
    """Prints at every 10% so a log stays readable (no carriage-return animation)."""

    def __init__(self, name: str, log: Callable[[str], None]):
        self.name, self.log, self.next_step = name, log, 10

    def __call__(self, got: int, total: int) -> None:
        pct = got * 100 // max(total, 1)
        if pct >= self.next_step:
            self.log(f"  {self.name}: {pct}% of {total / 1e6:.1f} MB")
            self.next_step = (pct // 10 + 1) * 10
