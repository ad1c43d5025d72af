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


def run_cases(machine: str, cases: Sequence, serialize, work: Path, opt: str = "-O2",
              kernel_opt: str = "-O2") -> Tuple[List[Tuple[int, str]], Dict]:
    """Run ``cases`` (test_kernels.Case objects) on ``machine``; returns (failures, info) where
    failures lists (case index, description) of every case whose output differs."""
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
