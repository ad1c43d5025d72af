"""Shared helpers for tests that compile C: locate the qnnc runtime and run compilers.

Typical use::

    from c_build import compile_c, include_dir, kernel_sources
    exe = compile_c(kernel_sources() + [my_main_c], [include_dir()], tmp_path / "prog")

:func:`compile_c` raises :class:`CompileError` (carrying the command line and the full
compiler output) on failure, so a failing test shows the diagnostics.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

import qnnc
from qnnc.runtime import KERNEL_CALLS, PATH_SUFFIXES

PathLike = Union[str, Path]

#: Host flags every kernel must compile cleanly with.
STRICT_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-pedantic")

#: Added by ``compile_c(..., sanitize=True)``; any sanitizer report aborts the program.
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-g")

#: Cross-compilation flags for the Cortex-M4 check (use with ``compile_only=True``).
ARM_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror",
                "-Wconversion")


class CompileError(RuntimeError):
    """A compiler invocation failed; ``cmd`` and ``output`` hold the details."""

    def __init__(self, cmd: Sequence[str], output: str):
        self.cmd = list(cmd)
        self.output = output
        super().__init__(f"compilation failed:\n$ {' '.join(self.cmd)}\n{output}")


def runtime_dir() -> Path:
    """The ``qnnc/runtime`` directory (contains ``include/`` and ``src/``)."""
    return Path(qnnc.__file__).resolve().parent / "runtime"


def include_dir() -> Path:
    """Directory holding ``qnnc_kernels.h``."""
    return runtime_dir() / "include"


def kernel_header() -> Path:
    """Path of ``qnnc_kernels.h``."""
    return include_dir() / "qnnc_kernels.h"


def kernel_functions() -> List[str]:
    """Names of the public kernel functions declared in ``qnnc_kernels.h`` and the parts it
    includes (``qnnc_kernels_s4.h``), in order."""
    text = re.sub(r'^#include "(qnnc_kernels_\w+\.h)".*$', lambda m: (include_dir() / m.group(1)).read_text(),
                  kernel_header().read_text(), flags=re.MULTILINE)
    return re.findall(r"^void\s+(qnnc_\w+)\s*\(", text, flags=re.MULTILINE)


def kernel_sources(functions: Optional[Iterable[str]] = None) -> List[Path]:
    """Kernel source files: ``runtime/src/<function>.c`` plus its ``<function>_dsp.c`` /
    ``<function>_mve.c`` SIMD paths where they exist, for the given function names and the
    kernels they call (all ``qnnc_*.c`` files when ``functions`` is None). Raises if a
    function's file is missing."""
    src = runtime_dir() / "src"
    if functions is None:
        return sorted(src.glob("qnnc_*.c"))
    functions = list(functions)
    functions += [c for fn in functions for c in KERNEL_CALLS.get(fn, ()) if c not in functions]
    missing = [str(src / f"{name}.c") for name in functions if not (src / f"{name}.c").is_file()]
    if missing:
        raise FileNotFoundError(f"missing kernel sources: {missing}")
    return [src / f"{name}{suffix}.c" for name in functions for suffix in ("",) + PATH_SUFFIXES
            if (src / f"{name}{suffix}.c").is_file()]


def find_compiler(name: str = "gcc") -> Optional[str]:
    """Full path of a compiler on PATH, or None."""
    return shutil.which(name)


def compile_c(sources: Sequence[PathLike], include_dirs: Sequence[PathLike], out_path: PathLike,
              extra_flags: Sequence[str] = (), sanitize: bool = False, compiler: str = "gcc",
              *, base_flags: Sequence[str] = STRICT_FLAGS, shared: bool = False,
              compile_only: bool = False, libs: Sequence[str] = (),
              timeout: float = 300.0) -> Path:
    """Compile (and link) C ``sources`` into ``out_path`` and return it.

    Flags: ``base_flags`` (default :data:`STRICT_FLAGS`, warnings are errors), then
    :data:`SANITIZE_FLAGS` if ``sanitize``, ``-fPIC -shared`` if ``shared``, ``-c`` if
    ``compile_only`` (one source only), then ``extra_flags``; ``libs`` (e.g. ``"-lm"``) go
    after the sources. Raises :class:`CompileError` with the compiler output on failure
    (or if the compiler is not installed).
    """
    if compile_only and len(sources) != 1:
        raise ValueError("compile_only needs exactly one source")
    exe = find_compiler(compiler)
    if exe is None:
        raise CompileError([compiler], f"compiler {compiler!r} not found on PATH")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, *base_flags]
    if sanitize:
        cmd += SANITIZE_FLAGS
    if shared:
        cmd += ["-fPIC", "-shared"]
    if compile_only:
        cmd.append("-c")
    cmd += list(extra_flags)
    cmd += [f"-I{d}" for d in include_dirs]
    cmd += [str(s) for s in sources]
    cmd += ["-o", str(out_path), *libs]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise CompileError(cmd, proc.stdout)
    return out_path


def sanitizer_env(base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment for running a ``sanitize=True`` binary: halt on the first report and
    skip leak checking (LeakSanitizer does not work under ptrace in some containers)."""
    env = dict(os.environ if base is None else base)
    env["ASAN_OPTIONS"] = "detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=66"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=67"
    return env
