"""Random kernel cases shared by the kernel tests (int8, int16, int4): the case-file format the
C drivers read, running a driver on it, and random convolution geometry."""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np


def i32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def serialize(cases: Sequence, kernel_ids: Dict[str, int]) -> bytes:
    """Case file: per case, kernel id and blob count, then each blob with its length. A case is
    anything with ``kernel`` and ``blobs`` (or a tuple starting with them)."""
    parts = []
    for c in cases:
        kernel, blobs = (c.kernel, c.blobs) if hasattr(c, "blobs") else (c[0], c[1])
        parts.append(i32(kernel_ids[kernel], len(blobs)))
        for b in blobs:
            parts += [i32(len(b)), b]
    return b"".join(parts)


def run_case_file(exe: Path, payload: bytes, n_cases: int, workdir: Path, env=None) -> List[bytes]:
    """Run a driver on a case file; returns each case's output buffer."""
    inp, outp = workdir / f"{exe.name}.cases", workdir / f"{exe.name}.results"
    inp.write_bytes(payload)
    proc = subprocess.run([str(exe), str(inp), str(outp)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"{exe.name} exited with {proc.returncode}:\n{proc.stderr[-6000:]}"
    data, pos, results = outp.read_bytes(), 0, []
    while pos < len(data):
        (n,) = struct.unpack_from("<i", data, pos)
        results.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    assert len(results) == n_cases
    return results


def conv_geometry(rng, size_max: int, pad_max: int) -> Tuple[int, ...]:
    """A random valid convolution window: (h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow),
    sizes below ``size_max``, kernels up to 4, strides and dilations 1-2, pads below ``pad_max``."""
    while True:
        h, w = (int(v) for v in rng.integers(1, size_max, 2))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        sh, sw = (int(v) for v in rng.integers(1, 3, 2))
        dh, dw = (int(v) for v in rng.integers(1, 3, 2))
        pt, pl, pb, pr = (int(v) for v in rng.integers(0, pad_max, 4))
        oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
        ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
        if oh >= 1 and ow >= 1:
            return h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow


def canary(rng, nbytes: int) -> bytes:
    """Random bytes for an output buffer, so an unwritten element is (almost) always caught."""
    return rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()


def pool_geometry(rng) -> Tuple[int, ...]:
    """A random pooling window: (h, w, c, kh, kw, sh, sw, pt, pb, pl, pr); pads up to the kernel
    size, so some windows lie entirely in the padding."""
    while True:
        h, w, c = int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 9))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        pt, pb = int(rng.integers(0, kh + 1)), int(rng.integers(0, kh + 1))
        pl, pr = int(rng.integers(0, kw + 1)), int(rng.integers(0, kw + 1))
        if h + pt + pb >= kh and w + pl + pr >= kw:
            return h, w, c, kh, kw, sh, sw, pt, pb, pl, pr


def compile_drivers(tmp_path_factory, tag: str, sources: List[Path]):
    """A case driver built twice, at -O2 and under ASan/UBSan: (folder, {build: (exe, env)})."""
    from c_build import compile_c, find_compiler, include_dir, sanitizer_env
    import pytest
    if find_compiler("gcc") is None:
        pytest.skip("gcc not found")
    d = tmp_path_factory.mktemp(tag)
    return d, {"O2": (compile_c(sources, [include_dir()], d / f"{tag}_O2"), None),
               "asan_ubsan": (compile_c(sources, [include_dir()], d / f"{tag}_asan", sanitize=True),
                              sanitizer_env())}
