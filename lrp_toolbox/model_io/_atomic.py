"""Atomic file writes shared by :mod:`lrp_toolbox.model_io` and :mod:`lrp_toolbox.data_io`.

A file is written to a temporary sibling in the same folder and moved over the target with
:func:`os.replace` only after the content was written, flushed and synced. A failed or interrupted
write (any exception, including ``KeyboardInterrupt``) leaves an existing target untouched and
removes the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TEMP_SUFFIX = ".tmp"


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success move it over ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file. Its folder must exist.
    mode : {'wb', 'w'}
        Binary or text mode. Text mode writes UTF-8 with ``'\\n'`` line endings on every platform.

    Yields
    ------
    file object
        The open temporary file.

    Notes
    -----
    The new file gets the permissions of the file it replaces, or ``0o666`` minus the umask for a
    new file (the temporary file is created with ``os.open(..., 0o666)``, so the umask applies).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(os.fspath(path))
    if target.is_symlink():  # write the file it points to, as open(path, 'w') would; keep the link
        try:
            target = target.resolve()
        except RuntimeError:  # Python < 3.13 reports a symlink loop this way
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.fspath(path)) from None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = _temp_name(target)
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        except OSError as exc:  # name the target, not the hidden temporary file
            raise type(exc)(exc.errno, exc.strerror, os.fspath(target)) from None
    else:  # pragma: no cover
        raise FileExistsError(f"could not create a temporary file next to {target}")
    handle: IO | None = None
    try:
        with contextlib.suppress(FileNotFoundError):
            existing = os.stat(target)
            if stat.S_ISREG(existing.st_mode):
                os.chmod(tmp, stat.S_IMODE(existing.st_mode))
        text = mode == "w"
        handle = os.fdopen(fd, mode, encoding="utf-8" if text else None, newline="\n" if text else None)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:  # e.g. the target is a folder: name it, not the temporary file
            raise type(exc)(exc.errno, exc.strerror, os.fspath(target)) from None
    except BaseException:
        if handle is None:  # the descriptor was not handed to a file object yet
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
