"""What is costly to learn about data, learnt once: the cache folder, a lock that makes concurrent
openers wait for the first, and file fingerprints cached by size and mtime.

Array tasks start together and open the same dataset: the first takes the lock and hashes, the
others wait and then read its result. Caches are written with temp file + rename, so no reader
sees half of one. flock works on local disks and on NFSv4 or Lustre clients that support it;
where a file system ignores it, the worst case is two tasks hashing the same file, never a wrong
or torn cache.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from scaling_laws.results_layout import atomic_write_json

CACHE_ENV = "SCALING_DATA_CACHE"
FINGERPRINTS_NAME = ".fingerprints.json"  # next to the files it describes, when that folder is writable
HASH_CHUNK_BYTES = 1 << 24


def cache_dir() -> Path:
    """$SCALING_DATA_CACHE, else ~/.cache/scaling-laws."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "scaling-laws"))


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if needed); released when the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)  # read-only: another user's lock file works too
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_cache_path(folder: Path) -> Path:
    """Where the fingerprints of ``folder``'s files are cached: beside them, or in the cache folder
    when ``folder`` is read-only (a shared dataset)."""
    folder = Path(folder).resolve()
    if os.access(folder, os.W_OK):
        return folder / FINGERPRINTS_NAME
    return cache_dir() / "fingerprints" / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:24]}.json"


@dataclass(frozen=True)
class Fingerprints:
    sha256: dict[str, str]  # file name -> sha256 of its bytes
    computed: tuple[str, ...]  # the names this call had to hash (not in the cache, or changed)


def _stat_key(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_cache(path: Path) -> dict:
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # missing or unreadable: hash again and rewrite it
    return cached if isinstance(cached, dict) else {}


def _write_cache(path: Path, cached: dict) -> None:
    atomic_write_json(path, cached)
    path.chmod(0o644)  # other users opening the same dataset read it too


def file_fingerprints(folder: Path, names: tuple[str, ...]) -> Fingerprints:
    """sha256 of each named file in ``folder``, hashed only when its size or mtime changed."""
    folder, cache_path = Path(folder), fingerprint_cache_path(folder)
    with file_lock(cache_path.with_suffix(".lock")):
        cached, sha256, computed = _read_cache(cache_path), {}, []
        for name in names:
            key, entry = _stat_key(folder / name), cached.get(name, {})
            if {k: entry.get(k) for k in key} == key and "sha256" in entry:
                sha256[name] = entry["sha256"]
                continue
            sha256[name] = file_sha256(folder / name)
            cached[name] = {**key, "sha256": sha256[name]}
            computed.append(name)
        if computed:
            _write_cache(cache_path, cached)
    return Fingerprints(sha256, tuple(computed))


def record_fingerprints(folder: Path, sha256: dict[str, str]) -> None:
    """Seed the cache with hashes computed while the files were written, so no run hashes them again."""
    folder, cache_path = Path(folder), fingerprint_cache_path(folder)
    with file_lock(cache_path.with_suffix(".lock")):
        cached = _read_cache(cache_path)
        cached.update({name: {**_stat_key(folder / name), "sha256": digest} for name, digest in sha256.items()})
        _write_cache(cache_path, cached)
