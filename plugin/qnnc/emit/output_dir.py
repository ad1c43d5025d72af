"""Writing a model's files into the output folder: the old set or the new set, never a mixed set.

The files keep the names build systems expect (``<out>/<name>.c``, ``<name>_weights.c``,
``<name>.h``, kernel files, reports) and stay regular files. Four parts make replacing a set
safe even when the process is killed (``kill -9``) between any two steps:

1. **Build id: a mixed set does not compile.** ``seal`` (called by ``build.generate``) adds
   ``<name>_build_id.h``, defining ``<NAME>_BUILD_ID`` (a hash of all the model's own files), and
   puts right after the banner of each of the model's C files and headers
   (``<name>.c``, ``<name>_weights.c``, ``<name>.h``, ``<name>_test_data.{c,h}``)::

       #include "<name>_build_id.h"
       #if <NAME>_BUILD_ID != 0x...u
       #error "... from another qnnc build ...: rerun qnnc build"
       #endif

   (C89/C99 preprocessor only, 32-bit value). ``<name>_build_id.h`` is renamed into place after
   every other file of the model, so whenever the folder holds files of two builds, at least one
   of them disagrees with it and the compiler stops with that ``#error``: a new ``<name>.c`` beside
   an old ``<name>_weights.c`` cannot be compiled, linked and run. The shared kernel files
   (``qnnc_*``) are the same for every model of a qnnc version and carry no id.
2. **Journal: the next run repairs a half-updated folder.** The changed files are staged inside
   the output folder (``<out>/.qnnc-stage-*``, so on the same filesystem: a mount point, tmpfs
   or container volume works), under names ending in ``.new`` so no source glob picks them up.
   When all are staged, ``journal.json`` (install order, files to delete) is written atomically;
   from then on the update is committed: the files are renamed one by one, and an update killed
   half-way is rolled forward by the next write into that folder (any model). A staging folder
   without a journal is deleted. Should a rename fall back on ``EXDEV`` (some union filesystems),
   the file is copied next to its destination and renamed from there.
3. **Lock: temporaries of live builds are left alone.** A write holds an ``flock`` on the output
   folder from start to end, so concurrent builds into one folder take turns, and every
   ``.qnnc-*`` entry found while holding the lock belongs to a dead run. Where ``flock`` is not
   available, an entry is stale when the process that made it (its ``owner`` file) is no longer
   running, or it is older than an hour.
4. **Per-model manifests: several models share one folder.** ``.qnnc_manifest_<name>`` lists
   the files of model ``<name>``. A build deletes only files its previous set had, its new set
   lacks and no other model's manifest lists (so shared kernels stay while any model needs
   them), and refuses to overwrite another model's file. The single ``.qnnc_manifest`` of
   earlier versions is read and migrated.

Files whose content is unchanged are never rewritten (their mtime stays), and a build that
changes nothing stages and renames nothing. SIGINT/SIGTERM are held back while files are
renamed. What this does not cover: a compiler *running while* the files are renamed can read
some files before and some after the update (re-running the build after qnnc finishes fixes
that), and power loss (nothing is fsync'ed; this protects against the process dying).

Fault injection for tests: ``QNNC_TEST_KILL_AT_RENAME=N`` makes the process SIGKILL itself
before the N-th rename or removal of a commit.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ..errors import OutputError

MANIFEST = ".qnnc_manifest"            # one per folder: written by earlier versions, migrated
MANIFEST_PREFIX = ".qnnc_manifest_"    # + model name: one per model
TEMP_PREFIX = ".qnnc-"                 # every temporary entry inside the output folder
STAGE_PREFIX = TEMP_PREFIX + "stage-"
PART_PREFIX = TEMP_PREFIX + "part-"    # EXDEV fallback: a copy next to its destination
STAGED_SUFFIX = ".new"
JOURNAL = "journal.json"
OWNER = "owner"
KERNEL_PREFIX = "qnnc_"                # kernel library files; model names may not start with qnnc
KILL_ENV = "QNNC_TEST_KILL_AT_RENAME"
STALE_SECONDS = 3600                   # staging folders older than this are stale (no flock)
LEGACY_STALE_SECONDS = 600             # temporaries earlier versions left beside the folder
_LEGACY_TEMP = re.compile(r"^\.qnnc-[a-z0-9_]{8}$")


def check_output_dir(out_dir: str) -> None:
    """Refuse an output path that exists but is not a folder (checked before any work is done)."""
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError("exists and is not a folder; --output names the folder for the generated files",
                          file=out_dir)


# -- build id ---------------------------------------------------------------------------------

def build_id_header(name: str) -> str:
    """File name of the header holding ``<NAME>_BUILD_ID``."""
    return f"{name}_build_id.h"


def _is_kernel(fname: str) -> bool:
    return fname.startswith(KERNEL_PREFIX)


def seal(files: Dict[str, str], name: str) -> Dict[str, str]:
    """``files`` plus ``<name>_build_id.h``, each model C file/header checking it (see the module doc).

    The id is a hash of the content of the model's own files (not the shared kernels), so it
    changes exactly when one of them changes; an unchanged model keeps it, and its files.
    """
    header = build_id_header(name)
    own = {f: t for f, t in files.items() if not _is_kernel(f) and f != header}
    h = hashlib.sha256()
    for f in sorted(own):
        h.update(f.encode() + b"\0" + own[f].encode("utf-8") + b"\0")
    value = f"0x{h.hexdigest()[:8]}u"
    macro = f"{name.upper()}_BUILD_ID"
    out = dict(files)
    for f in sorted(own):
        if f.endswith((".c", ".h")):
            out[f] = _after_banner(own[f], (
                f'#include "{header}"\n'
                f"#if {macro} != {value}\n"
                f'#error "{f} and {header} are from different qnnc builds: the output folder was left '
                f'half-updated (interrupted build?); run qnnc build again"\n'
                f"#endif\n\n"))
    banner = _banner(own.get(f"{name}.h", ""))
    out[header] = (f"{banner}/* Identifies one qnnc build of {name}'s files: each of them checks it, so files of\n"
                   f" * two different builds never compile together. */\n"
                   f"#ifndef {macro}_INCLUDED\n#define {macro}_INCLUDED\n#define {macro} {value}\n#endif\n")
    return out


def _banner(text: str) -> str:
    """The leading comment block of a generated file ('' if it has none)."""
    if text.startswith("/*"):
        end = text.find("*/\n")
        if end >= 0:
            return text[:end + 3]
    return ""


def _after_banner(text: str, block: str) -> str:
    banner = _banner(text)
    return banner + block + text[len(banner):]


def _guess_name(files: Iterable[str]) -> str:
    """The model name of a file set (``<name>_weights.c``), for callers that do not pass it."""
    names = sorted(f[:-len("_weights.c")] for f in files if f.endswith("_weights.c") and not _is_kernel(f))
    if names:
        return names[0]
    headers = sorted(f[:-2] for f in files if f.endswith(".h") and not _is_kernel(f))
    return headers[0] if headers else "files"


# -- writing ----------------------------------------------------------------------------------

def write_output(files: Dict[str, str], out_dir: str, name: Optional[str] = None) -> List[str]:
    """Write model ``name``'s ``files`` into ``out_dir``; returns the names that changed.

    Removes files of the model's previous build that the new set lacks (unless another model of
    the folder lists them). See the module docstring for how the set is replaced as a whole.
    """
    out_dir = os.path.abspath(out_dir)
    check_output_dir(out_dir)
    name = name or _guess_name(files)
    created = False
    stage = None
    committing = False
    try:
        if not os.path.isdir(out_dir):
            os.makedirs(os.path.dirname(out_dir), exist_ok=True)
            try:
                os.mkdir(out_dir)
                created = True
            except FileExistsError:  # a concurrent build created it first
                check_output_dir(out_dir)
        with _folder_lock(out_dir) as locked:
            _recover(out_dir, locked)
            _clean_legacy_temporaries(out_dir)
            _migrate_manifest(out_dir)
            want, install, remove = _plan(files, out_dir, name)
            if not install and not remove:
                return []
            stage = _new_stage(out_dir)
            _fill(stage, {f: want[f] for f in install})
            with _signals_deferred():
                _write_journal(stage, name, install, remove)
                committing = True
                _apply(stage, out_dir, install, remove)
                stage = None
            return [f for f in install if not f.startswith(".")]
    except OSError as e:
        reason = e.strerror or str(e)
        if committing:
            raise OutputError(f"cannot write the generated files ({reason}); the folder was only partly updated: "
                              "its files refuse to compile until the next qnnc build into it completes the update",
                              file=out_dir) from None
        raise OutputError(f"cannot write the generated files ({reason}); nothing was changed", file=out_dir) from None
    finally:
        if stage is not None and not committing:
            shutil.rmtree(stage, ignore_errors=True)
        if created and not committing:
            with contextlib.suppress(OSError):
                os.rmdir(out_dir)  # only if still empty: nothing was written


def _plan(files: Dict[str, str], out_dir: str, name: str) -> Tuple[Dict[str, str], List[str], List[str]]:
    """(every file incl. the manifest, the ones to install in order, the ones to delete)."""
    manifests = _read_manifests(out_dir)
    old = manifests.pop(name, set())
    others: Set[str] = set().union(*manifests.values()) if manifests else set()
    for f in sorted(files):
        if os.path.basename(f) != f or f.startswith("."):
            raise ValueError(f"generated file name {f!r} is not a plain file name")  # a qnnc bug
        if not _is_kernel(f) and f in others:
            owner = next(m for m, listed in sorted(manifests.items()) if f in listed)
            owner = f"model '{owner}'" if owner else "an earlier qnnc build (.qnnc_manifest)"
            raise OutputError(f"model '{name}' would overwrite {f}, a file of {owner} in the same folder; "
                              "choose another --name or output folder", file=out_dir)
    want = dict(files)
    manifest = MANIFEST_PREFIX + name
    want[manifest] = "\n".join(sorted(files)) + "\n"
    header = build_id_header(name)
    order = ([f for f in sorted(files) if _is_kernel(f)]
             + [f for f in sorted(files) if not _is_kernel(f) and f != header]
             + ([header] if header in files else []) + [manifest])
    install = [f for f in order if not _same_content(os.path.join(out_dir, f), want[f])]
    remove = sorted(f for f in old - set(files) - others if os.path.basename(f) == f and not f.startswith("."))
    return want, install, remove


def _same_content(path: str, text: str) -> bool:
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    with open(path, "rb") as f:
        return f.read() == text.encode("utf-8")


def _new_stage(out_dir: str) -> str:
    stage = tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=out_dir)
    _write_text(os.path.join(stage, OWNER), json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                        "time": time.time()}) + "\n")
    return stage


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _fill(tmp: str, files: Dict[str, str]) -> None:
    """Stage ``files`` in the temporary folder (as ``<file>.new``)."""
    for fname, text in files.items():
        _write_text(os.path.join(tmp, fname + STAGED_SUFFIX), text)


def _write_journal(stage: str, name: str, install: List[str], remove: List[str]) -> None:
    """The commit point: once the journal exists, the update is completed, now or by the next run."""
    tmp = os.path.join(stage, JOURNAL + ".tmp")
    _write_text(tmp, json.dumps({"format": 1, "model": name, "time_ns": time.time_ns(), "install": install,
                                 "remove": remove}) + "\n")
    os.replace(tmp, os.path.join(stage, JOURNAL))


def _read_journal(stage: str) -> Optional[Dict]:
    try:
        with open(os.path.join(stage, JOURNAL), encoding="utf-8") as f:
            j = json.load(f)
        if isinstance(j, dict) and isinstance(j.get("install"), list) and isinstance(j.get("remove"), list):
            return j
    except (OSError, ValueError):
        pass
    return None


class _FaultPoints:
    """``QNNC_TEST_KILL_AT_RENAME=N``: SIGKILL this process before the N-th rename/removal."""

    def __init__(self) -> None:
        value = os.environ.get(KILL_ENV, "")
        self.kill_at = int(value) if value.isdigit() else None
        self.count = 0

    def step(self) -> None:
        self.count += 1
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def _apply(stage: str, out_dir: str, install: List[str], remove: List[str]) -> None:
    """Rename the staged files into place in order, delete the stale ones, drop the journal."""
    faults = _FaultPoints()
    for f in install:
        src = os.path.join(stage, f + STAGED_SUFFIX)
        if not os.path.exists(src):  # moved by the run that was killed (rolling forward)
            continue
        faults.step()
        _move(src, os.path.join(out_dir, f))
    for f in remove:
        if os.path.basename(f) != f or f.startswith("."):
            continue
        faults.step()
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out_dir, f))
    faults.step()
    os.remove(os.path.join(stage, JOURNAL))  # the update is complete
    shutil.rmtree(stage, ignore_errors=True)


def _move(src: str, dst: str) -> None:
    """Atomic rename; across filesystems (EXDEV), a copy beside ``dst`` renamed onto it."""
    try:
        os.replace(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        part = os.path.join(os.path.dirname(dst), PART_PREFIX + os.path.basename(dst))
        shutil.copyfile(src, part)
        os.replace(part, dst)
        os.remove(src)


# -- manifests --------------------------------------------------------------------------------

def _read_list(path: str) -> Set[str]:
    with open(path, encoding="utf-8") as f:
        return set(f.read().split())


def _read_manifests(out_dir: str) -> Dict[str, Set[str]]:
    """{model name: its files}; a legacy manifest whose model is unknown is listed under ''."""
    out: Dict[str, Set[str]] = {}
    for entry in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, entry)
        if entry.startswith(MANIFEST_PREFIX) and os.path.isfile(path):
            out[entry[len(MANIFEST_PREFIX):]] = _read_list(path)
    legacy = os.path.join(out_dir, MANIFEST)
    if os.path.isfile(legacy):
        out.setdefault("", set()).update(_read_list(legacy))
    return out


def _migrate_manifest(out_dir: str) -> None:
    """Turn an earlier version's ``.qnnc_manifest`` into ``.qnnc_manifest_<its model>``."""
    legacy = os.path.join(out_dir, MANIFEST)
    if not os.path.isfile(legacy):
        return
    listed = _read_list(legacy)
    owners = sorted(f[:-len("_weights.c")] for f in listed if f.endswith("_weights.c") and not _is_kernel(f))
    if len(owners) != 1:
        return  # unknown model: its files stay protected by the legacy manifest
    target = os.path.join(out_dir, MANIFEST_PREFIX + owners[0])
    if not os.path.exists(target):
        tmp = os.path.join(out_dir, PART_PREFIX + MANIFEST)
        _write_text(tmp, "\n".join(sorted(listed)) + "\n")
        os.replace(tmp, target)
    os.remove(legacy)


# -- temporaries of killed runs ---------------------------------------------------------------

@contextlib.contextmanager
def _folder_lock(path: str):
    """Hold an exclusive flock on the folder; yields whether the lock is real."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield False
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # e.g. a network filesystem without locks
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _pid_running(pid: int) -> bool:
    if os.name != "posix" or pid <= 0:
        return True  # cannot tell: rely on the age
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def is_stale(path: str, locked: bool) -> bool:
    """Whether a ``.qnnc-*`` entry of the output folder belongs to no live build.

    With the folder's lock held, every one does (live builds hold that lock while theirs
    exist). Without a lock: its owner process is gone, or it is older than an hour.
    """
    if locked:
        return True
    try:
        age = time.time() - os.lstat(path).st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_SECONDS:
        return True
    try:
        with open(os.path.join(path, OWNER), encoding="utf-8") as f:
            owner = json.load(f)
        if owner.get("host") == socket.gethostname():
            return not _pid_running(int(owner.get("pid", 0)))
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return False


def _recover(out_dir: str, locked: bool) -> None:
    """Roll forward updates killed after their journal; delete other temporaries of dead runs."""
    committed = []
    for entry in sorted(os.listdir(out_dir)):
        if not entry.startswith(TEMP_PREFIX):
            continue
        path = os.path.join(out_dir, entry)
        if not is_stale(path, locked):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            journal = _read_journal(path)
            if journal is not None:
                committed.append((journal.get("time_ns", 0), path, journal))
            else:
                shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    for _, path, journal in sorted(committed, key=lambda c: (c[0], c[1])):
        _apply(path, out_dir, [f for f in journal["install"] if isinstance(f, str)],
               [f for f in journal["remove"] if isinstance(f, str)])


def _clean_legacy_temporaries(out_dir: str) -> None:
    """Delete ``.qnnc-XXXXXXXX`` folders that earlier versions left beside the output folder
    when killed (their runs took seconds: only ones untouched for 10 minutes)."""
    parent = os.path.dirname(out_dir)
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    now = time.time()
    for entry in entries:
        path = os.path.join(parent, entry)
        if not _LEGACY_TEMP.match(entry) or os.path.islink(path) or not os.path.isdir(path):
            continue
        try:
            if now - os.stat(path).st_mtime < LEGACY_STALE_SECONDS:
                continue
            if any(os.path.isdir(os.path.join(path, f)) for f in os.listdir(path)):
                continue  # not a flat folder of generated files
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)


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
