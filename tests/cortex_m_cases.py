"""Run tests/test_kernels.py's random kernel cases on an emulated Cortex-M (QEMU).

The cases are serialized exactly as for the host driver, linked into a bare-metal firmware
(benchmarks/firmware/kernel_cases_main.c, which reuses tests/kernel_driver.c's run_case) and
executed; the firmware prints an FNV-1a hash of every output buffer, compared here with the
hash of the reference output.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import harness as H  # noqa: E402
from c_build import include_dir, kernel_sources  # noqa: E402


def fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


# Cases per firmware image at most this many serialized bytes: the image holds them in the
# boards' 4 MiB of code memory, and QEMU's M3 board stopped in the middle of a case (no fault, no
# output) once they passed 3.9 MB. Larger sets run as several images, one after another.
MAX_BLOB_BYTES = 3 << 20


def run_cases(machine: str, cases: Sequence, serialize, work: Path, opt: str = "-O2",
              kernel_opt: str = "-O2") -> Tuple[List[Tuple[int, str]], Dict]:
    """Run ``cases`` (test_kernels.Case objects) on ``machine``; returns (failures, info) where
    failures lists (case index, description) of every case whose output differs."""
    sizes = [len(serialize([c])) for c in cases]
    parts, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > MAX_BLOB_BYTES:
            parts.append((start, i))
            start, total = i, 0
        total += size
    parts.append((start, len(cases)))
    if len(parts) == 1:
        return _run_part(machine, cases, serialize, Path(work), opt, kernel_opt)
    failures: List[Tuple[int, str]] = []
    info: Dict = {"instructions": [], "firmware": []}
    for k, (a, b) in enumerate(parts):
        f, i = _run_part(machine, cases[a:b], serialize, Path(work) / f"part{k}", opt, kernel_opt)
        failures += [(a + j, d) for j, d in f]
        info["instructions"] += i["instructions"]
        info["firmware"].append(i["firmware"])
    return failures, info


def _run_part(machine: str, cases: Sequence, serialize, work: Path, opt: str,
              kernel_opt: str) -> Tuple[List[Tuple[int, str]], Dict]:
    """run_cases for one firmware image's cases."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    blob = work / "cases.bin"
    blob.write_bytes(serialize(list(cases)))
    main_c = H.FIRMWARE / "kernel_cases_main.c"
    srcs = kernel_sources() + [main_c]
    flags = {s.name: kernel_opt.split() for s in srcs if s.name.startswith("qnnc_")}
    fw = H.build_firmware(H.MACHINES[machine], srcs, [include_dir(), HERE], work, name=f"cases_{machine}",
                          opt=opt, per_source_flags=flags, defines=[f'BENCH_CASES_FILE="{blob}"'],
                          extra_cflags=["-Wno-unused-function"])
    run = H.run_firmware(fw, work)
    if run.returncode != 0:
        raise AssertionError(f"firmware on {machine} exited {run.returncode}:\n{run.stdout[-3000:]}\n"
                             f"{run.stderr[-2000:]}")
    got = {}
    for line in run.stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[0] == "H":
            got[int(p[1])] = int(p[2], 16)
    failures = []
    for i, c in enumerate(cases):
        exp = fnv1a(np.ascontiguousarray(c.expected).tobytes())
        if got.get(i) != exp:
            failures.append((i, f"{c.kernel}: {c.desc}"))
    return failures, {"instructions": [r.count for r in run.regions], "firmware": fw}
