"""Writing the output folder atomically.

All files are generated in memory first; then they go to a temporary folder next to the
output and are moved in one by one, skipping files whose content is unchanged (so build
systems see no change). Nothing is written if any stage fails.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from typing import Dict, List

from ..errors import OutputError

MANIFEST = ".qnnc_manifest"


def check_output_dir(out_dir: str) -> None:
    """Refuse an output path that exists but is not a folder (checked before any work is done)."""
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError("exists and is not a folder; --output names the folder for the generated files",
                          file=out_dir)


def write_output(files: Dict[str, str], out_dir: str) -> List[str]:
    """Write ``files`` into ``out_dir``; returns the names that changed. Removes stale generated files.

    Everything is first written to a temporary folder beside ``out_dir``. A new folder is then
    renamed into place in one step; an existing one gets each changed file by an atomic rename,
    with SIGINT/SIGTERM held back until the last rename, so it is never left half-written.
    """
    out_dir = os.path.abspath(out_dir)
    check_output_dir(out_dir)
    tmp = None
    try:
        os.makedirs(os.path.dirname(out_dir), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".qnnc-", dir=os.path.dirname(out_dir))
        _fill(tmp, files)
        with _signals_deferred():
            return _commit(tmp, files, out_dir)
    except OSError as e:
        raise OutputError(f"cannot write the generated files ({e.strerror or e}); nothing was changed",
                          file=out_dir) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _fill(tmp: str, files: Dict[str, str]) -> None:
    """Write every file and the manifest into the temporary folder (mode as a new folder would get)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)
    for fname, text in files.items():
        with open(os.path.join(tmp, fname), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(sorted(files)) + "\n")


def _commit(tmp: str, files: Dict[str, str], out_dir: str) -> List[str]:
    """Move the temporary folder's content into ``out_dir``; returns the changed names."""
    if not os.path.isdir(out_dir):
        try:
            os.replace(tmp, out_dir)
            return sorted(files)
        except OSError:
            if not os.path.isdir(out_dir):  # not a concurrent build creating it first
                raise
    changed = []
    old_manifest = os.path.join(out_dir, MANIFEST)
    if os.path.isfile(old_manifest):
        with open(old_manifest, encoding="utf-8") as f:
            for old in f.read().split():
                if old not in files and os.path.basename(old) == old and not old.startswith("."):
                    try:
                        os.remove(os.path.join(out_dir, old))
                    except FileNotFoundError:
                        pass
    for fname in sorted(files) + [MANIFEST]:
        dst = os.path.join(out_dir, fname)
        src = os.path.join(tmp, fname)
        if os.path.isfile(dst) and _same_content(dst, src):
            continue
        os.replace(src, dst)
        if fname != MANIFEST:
            changed.append(fname)
    return changed


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT/SIGTERM inside the block and deliver them when it ends (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for sig in received:
            signal.raise_signal(sig)
