"""qnnc kernels and generated models on an emulated RISC-V core (QEMU virt, rv32imac), bit-exact
with the reference, with instructions counted as on the Cortex-M cores.

RISC-V cores get the portable C path. Debian's gcc-riscv64-unknown-elf (GCC 12) ships the
rv32imac/ilp32 multilib and has no P (packed SIMD) extension, so there is no SIMD path to test.
Needs gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf and qemu-system-misc; skipped with the
reason when they are absent (.ci/run installs them).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import harness as H  # noqa: E402

_MISSING = H.missing_tools("riscv")
pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(_MISSING is not None, reason=f"RISC-V tests need QEMU: {_MISSING}")]

CORE = "rv32"

COUNTER_MAIN = r"""
#include <stdlib.h>
#include <string.h>
#include "bench_support.h"
int main(void)
{
    char *p = malloc(64); /* picolibc's heap, as the kernel-case driver uses it */
    if (p == 0) {
        return 1;
    }
    memset(p, 3, 64);
    BENCH_BEGIN();
    BENCH_END();
    BENCH_BEGIN();
    /* 1 + 1000 * 3 instructions */
    __asm volatile("li t0, 1000\n1:\n\tnop\n\taddi t0, t0, -1\n\tbnez t0, 1b" ::: "t0", "memory");
    BENCH_END();
    BENCH_BEGIN();
    BENCH_BEGIN();
    __asm volatile("nop");
    BENCH_END();
    BENCH_END();
    bench_puts("done\n");
    return 4 + p[63];
}
"""


@pytest.fixture(scope="module")
def rv_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("riscv")


def test_instruction_counter_is_exact(rv_dir):
    src = rv_dir / "counter_main.c"
    src.write_text(COUNTER_MAIN)
    fw = H.build_firmware(H.MACHINES[CORE], [src], [], rv_dir, name="counter", opt="-O1")
    run = H.run_firmware(fw, rv_dir)
    assert run.returncode == 7, run.stdout + run.stderr  # the guest's exit code comes through semihosting
    assert run.stdout == "done\n"
    empty, loop, outer = run.regions
    assert empty.count == 0
    assert loop.count == 3001
    assert len(outer.children) == 1 and outer.children[0].count == 1 and outer.net == 1
    again = H.run_firmware(fw, rv_dir)
    assert [r.count for r in again.regions] == [r.count for r in run.regions]  # deterministic


def test_a_fault_is_reported_and_ends_the_run(rv_dir):
    src = rv_dir / "fault_main.c"
    src.write_text("int main(void) { __asm volatile(\".word 0\"); return 0; }\n")  # an illegal instruction
    fw = H.build_firmware(H.MACHINES[CORE], [src], [], rv_dir, name="fault", opt="-O1")
    run = H.run_firmware(fw, rv_dir)
    assert run.returncode == 99 and "FAULT mcause=00000002" in run.stdout, run.stdout


@pytest.mark.parametrize("opt", ["-O2", "-Os"])
def test_kernel_cases_bit_exact(opt, rv_dir):
    import test_kernels as T
    from cortex_m_cases import run_cases

    cases = [c for k in T.BUILDERS for c in T.cases_for(k)]
    failures, _ = run_cases(CORE, cases, T.serialize, rv_dir / f"cases{opt}", opt=opt, kernel_opt=opt)
    assert not failures, (f"{len(failures)} of {len(cases)} kernel cases differ from the reference on "
                          f"{CORE} {opt}; first ones:\n" + "\n".join(f"#{i}: {d}" for i, d in failures[:8]))


@pytest.mark.parametrize("model", [
    "digits_cnn_sklearn", "mlperf_tiny_ad_fc_autoencoder",
    pytest.param("mlperf_tiny_kws_dscnn", marks=pytest.mark.slow),
    pytest.param("mlperf_tiny_ic_resnet8", marks=pytest.mark.slow)])
def test_shared_model_bit_exact(model, rv_dir):
    from benchmarks import modelbench as MB
    from shared_models import require

    folder = require(model)
    cal, xs = MB.model_inputs(folder / "model.onnx", 2)
    res = MB.generate(folder / "model.onnx", rv_dir / model, cal)
    q = MB.quantized_inputs(res, xs)
    r = MB.bench_generated(res, rv_dir / model / "gen", q, H.MACHINES[CORE], rv_dir / model / CORE, model,
                           hist=False)
    print(f"{model} on {CORE}: {r.instructions:,} instructions ({r.per_mac:.3f}/MAC), "
          f"{r.n_inputs - r.mismatches}/{r.n_inputs} outputs bit-exact, stack {r.stack} B, arena {r.arena} B")
    assert r.bit_exact, f"{r.mismatches} of {r.n_inputs} outputs differ from the reference"
    assert r.instructions > r.macs  # at least one instruction per multiply-accumulate without SIMD
