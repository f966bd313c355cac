"""Fetch files over HTTP(S) from a list of mirrors, verifying SHA-256.

A download goes to a temporary file in the destination directory and is
renamed into place only after its checksum matches, so an interrupted or
corrupt download never leaves a file that looks finished.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from typing import Iterable, Optional

_CHUNK = 1 << 16
TIMEOUT = 30.0


class DownloadError(OSError):
    """No mirror gave a file with the expected checksum."""


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    filename: str,
    dest_dir: str,
    mirrors: Iterable[str],
    sha256: Optional[str],
    *,
    timeout: float = TIMEOUT,
) -> str:
    """Download ``filename`` from the first mirror that serves it intact.

    Each mirror is a base URL; the file's URL is ``mirror + filename``.
    The body is written to a temporary file in ``dest_dir``, its SHA-256
    compared with ``sha256`` (skipped when ``sha256`` is None), and the file
    renamed to ``dest_dir/filename``. Returns that path.

    Raises ``DownloadError`` listing every URL tried and why it failed.
    """
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, filename)
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        try:
            _download_verified(url, dest, sha256, timeout)
            return dest
        except (OSError, ValueError) as exc:
            failures.append(f"  {url}: {exc}")
    tried = "\n".join(failures) if failures else "  (no mirrors given)"
    raise DownloadError(f"could not download {filename}; tried:\n{tried}")


def _download_verified(url: str, dest: str, sha256: Optional[str], timeout: float) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(dest))
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        got = h.hexdigest()
        if sha256 is not None and got != sha256:
            raise ValueError(f"checksum mismatch: SHA-256 {got}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
