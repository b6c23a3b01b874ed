"""Which models to fetch, read straight from models/models.json (no numpy/onnxruntime needed here),
and the license notice shown before any download."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from .download import Expected
from .failures import ModelChoiceError


@dataclass(frozen=True)
class Downloadable:
    id: str
    name: str
    file: str
    license: str
    license_file: str | None
    expected: Expected


def manifest_path() -> Path:
    """OBSMATTE_MANIFEST lets tests and mirrors point at another manifest."""
    return Path(os.environ.get("OBSMATTE_MANIFEST") or paths.MANIFEST_PATH)


def load_entries(path: Path | None = None) -> list[dict]:
    path = path or manifest_path()
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError) as e:
        raise ModelChoiceError(f"cannot read the model manifest {path}: {e}") from None


def choose(model_ids: list[str], path: Path | None = None) -> tuple[list[Downloadable], list[str]]:
    """(models to download, notes for requested models that need no download). Unknown ids and models
    without a download entry are refused with the reason."""
    entries = {e["id"]: e for e in load_entries(path)}
    chosen, notes = [], []
    for mid in model_ids:
        e = entries.get(mid)
        if e is None:
            raise ModelChoiceError(f"unknown model {mid!r}; known: {', '.join(entries)}")
        if e.get("shipped"):
            notes.append(f"{mid} is included with the filter: nothing to download")
            continue
        d = e.get("download")
        if not d:
            raise ModelChoiceError(f"{mid} cannot be downloaded by the installer: "
                                   f"{e.get('notes') or 'no download address in the manifest'}")
        try:
            expected = Expected(url=d["url"], size=int(d["size"]), sha256=str(d["sha256"]).lower())
        except (KeyError, TypeError, ValueError):
            raise ModelChoiceError(f"{mid}: the manifest's download entry needs url, size and sha256") from None
        chosen.append(Downloadable(mid, e.get("name", mid), e["file"], e.get("license", "unknown"),
                                   e.get("license_file"), expected))
    return chosen, notes


def license_file_path(model: Downloadable) -> Path | None:
    if not model.license_file:
        return None
    for d in (manifest_path().parent, paths.MODELS_DIR, paths.SHARED_DIR / "models"):
        p = Path(d) / model.license_file
        if p.is_file():
            return p
    return None


def license_notice(model: Downloadable, head_lines: int = 8) -> str:
    """What the user reads before accepting: the license name, where its full text is, its opening."""
    text = [f"{model.name} ({model.id}) is licensed under {model.license}, not the project's license.",
            f"It is downloaded from {model.expected.url} on your machine; it is never bundled."]
    if model.license.upper().startswith("GPL"):
        text.append("Using it is allowed; if you redistribute the model or software that includes it, "
                    "GPL terms apply to that distribution.")
    lf = license_file_path(model)
    if lf:
        head = lf.read_text(encoding="utf-8", errors="replace").splitlines()[:head_lines]
        text.append(f"Full license text: {lf}")
        text += ["  | " + line for line in head]
    elif model.license_file:
        text.append(f"Full license text: {model.license_file} (see the model's home page)")
    return "\n".join(text)
