"""Edit one key of an OBS ini file (global.ini / user.ini) and leave every other byte alone.

OBS ini files are plain `[Section]` and `key=value` lines. We decode with surrogateescape so bytes that are
not UTF-8 survive, keep a UTF-8/UTF-16 BOM, keep the file's line endings, and touch only the lines of the
key we own. Before the first change the file is copied once to "<name>.obs-matting-backup".
"""
from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from pathlib import Path

from .failures import PermissionDeniedError

BACKUP_SUFFIX = ".obs-matting-backup"
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


@dataclass
class IniText:
    bom: bytes
    encoding: str
    newline: str
    lines: list[str]  # each with its own line ending, exactly as read

    @classmethod
    def decode(cls, data: bytes) -> "IniText":
        bom, encoding = b"", "utf-8"
        for b, enc in _BOMS:
            if data.startswith(b):
                bom, encoding = b, enc
                break
        text = data[len(bom):].decode(encoding, errors="surrogateescape")
        newline = "\r\n" if "\r\n" in text else ("\r" if "\r" in text else "\n")
        return cls(bom, encoding, newline, text.splitlines(keepends=True))

    def encode(self) -> bytes:
        return self.bom + "".join(self.lines).encode(self.encoding, errors="surrogateescape")

    def _section_span(self, section: str) -> tuple[int, int] | None:
        """(index of the header line, index after the section's last line) or None."""
        start = None
        for i, line in enumerate(self.lines):
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                if start is not None:
                    return start, i
                if s[1:-1].strip() == section:
                    start = i
        return (start, len(self.lines)) if start is not None else None

    def _key_index(self, section: str, key: str) -> int | None:
        span = self._section_span(section)
        if span is None:
            return None
        for i in range(span[0] + 1, span[1]):
            name, sep, _ = self.lines[i].partition("=")
            if sep and name.strip() == key:
                return i
        return None

    def get(self, section: str, key: str) -> str | None:
        i = self._key_index(section, key)
        if i is None:
            return None
        return self.lines[i].partition("=")[2].rstrip("\r\n")

    def _ending(self, line: str) -> str:
        return line[len(line.rstrip("\r\n")):]

    def set(self, section: str, key: str, value: str) -> None:
        i = self._key_index(section, key)
        if i is not None:
            self.lines[i] = f"{key}={value}{self._ending(self.lines[i]) or self.newline}"
            return
        span = self._section_span(section)
        if span is None:
            if self.lines and not self._ending(self.lines[-1]):
                self.lines[-1] += self.newline
            if self.lines and self.lines[-1].strip():  # OBS separates sections with a blank line
                self.lines.append(self.newline)
            self.lines += [f"[{section}]{self.newline}", f"{key}={value}{self.newline}"]
            return
        # after the section's last non-blank line, so blank separators stay where they were
        at = span[0] + 1
        for j in range(span[0] + 1, span[1]):
            if self.lines[j].strip():
                at = j + 1
        if not self._ending(self.lines[at - 1]):
            self.lines[at - 1] += self.newline
        self.lines.insert(at, f"{key}={value}{self.newline}")

    def remove(self, section: str, key: str) -> None:
        i = self._key_index(section, key)
        if i is not None:
            del self.lines[i]

    def section_is_empty(self, section: str) -> bool:
        span = self._section_span(section)
        return span is not None and not any(l.strip() for l in self.lines[span[0] + 1:span[1]])


def backup_path(ini: Path) -> Path:
    return ini.with_name(ini.name + BACKUP_SUFFIX)


def read_value(ini: Path, section: str, key: str) -> str | None:
    return IniText.decode(ini.read_bytes()).get(section, key) if ini.is_file() else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".obs-matting-tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except PermissionError:
        tmp.unlink(missing_ok=True)
        raise PermissionDeniedError(f"no write permission for {path}; close OBS and check the file is not "
                                    f"read-only") from None


def set_value(ini: Path, section: str, key: str, value: str) -> bool:
    """Set section/key=value; back the file up once first. Returns False when it already had that value."""
    existed = ini.is_file()
    original = ini.read_bytes() if existed else b""
    doc = IniText.decode(original)
    if doc.get(section, key) == value:
        return False
    doc.set(section, key, value)
    try:
        ini.parent.mkdir(parents=True, exist_ok=True)
        if existed and not backup_path(ini).exists():
            backup_path(ini).write_bytes(original)
    except PermissionError:
        raise PermissionDeniedError(f"no write permission in {ini.parent}") from None
    _write_atomic(ini, doc.encode())
    return True


def undo_value(ini: Path, section: str, key: str, written: str | None, previous: str | None = None) -> str:
    """Undo our change, only while the key still holds the value we wrote (`written`): a value the user chose
    since is theirs. If the file is exactly as we left it, the backup goes back byte-for-byte; if OBS has saved
    other settings since, only our key returns to its old value (restoring the whole backup would throw the
    user's newer settings away). A file without a backup of its own (OBS 31 copied it from global.ini) gets
    `previous` back, the value from before the install (None: there was none). Returns what was done."""
    if not ini.is_file():
        return f"{ini} does not exist: nothing to undo"
    now = read_value(ini, section, key)
    if written is None or now != written:
        return _leave_changed_value(ini, section, key, now)
    if backup_path(ini).is_file():
        return _restore_from_backup(ini, section, key, written)
    return _undo_without_backup(ini, section, key, previous)


def _leave_changed_value(ini: Path, section: str, key: str, now: str | None) -> str:
    """The key no longer holds what we wrote (the user picked another Python in OBS, or none): it stays. The
    backup is dropped too: it is from before the install, and a later install must back up the file as it is."""
    backup = backup_path(ini)
    dropped = f"; removed {backup.name}, from before the install" if backup.is_file() else ""
    backup.unlink(missing_ok=True)
    if now is None:
        return f"{ini.name} has no {key} set by this installer: left unchanged{dropped}"
    return f"[{section}] {key} in {ini.name} was changed after the install (to {now}): left unchanged{dropped}"


def _restore_from_backup(ini: Path, section: str, key: str, written: str) -> str:
    backup = backup_path(ini)
    old = backup.read_bytes()
    as_we_left_it = IniText.decode(old)
    as_we_left_it.set(section, key, written)
    if ini.read_bytes() == as_we_left_it.encode():
        _write_atomic(ini, old)
        how = f"restored {ini.name} from {backup.name}"
    else:
        _put_back(ini, section, key, IniText.decode(old).get(section, key))
        how = f"put back the previous [{section}] {key} in {ini.name} (kept newer OBS settings)"
    backup.unlink()
    return how


def _put_back(ini: Path, section: str, key: str, previous: str | None) -> None:
    doc = IniText.decode(ini.read_bytes())
    if previous is None:
        doc.remove(section, key)
    else:
        doc.set(section, key, previous)
    _write_atomic(ini, doc.encode())


def _undo_without_backup(ini: Path, section: str, key: str, previous: str | None) -> str:
    if previous is not None:
        _put_back(ini, section, key, previous)
        return f"put back the previous [{section}] {key} in {ini.name}"
    doc = IniText.decode(ini.read_bytes())
    doc.remove(section, key)
    if doc.section_is_empty(section) and not any(
            l.strip() for l in doc.lines if l.strip() != f"[{section}]"):
        ini.unlink()  # we created this file; nothing else is in it
        return f"removed {ini.name} (it held only our setting)"
    _write_atomic(ini, doc.encode())
    return f"removed [{section}] {key} from {ini.name}"
