"""Cortex-M4 cycle estimate from the executed-instruction mix (secondary figure).

QEMU counts instructions, not cycles. From the plugin's per-address execution counts and
the disassembly, each executed instruction gets a cost from the Cortex-M4 Technical
Reference Manual (r0p1, table 3-1), zero-wait-state memory assumed:

* data processing, shifts, DSP (SXTB16, SMLAD, SSAT, QADD, ...), MUL/MLA, SMULL/SMLAL,
  SMMUL(R), IT: 1 cycle
* LDR/STR (any width): 2, or 1 when the previous instruction is also a single load/store
  (address/data phase pipelining); LDRD/STRD: 3; LDM/STM/PUSH/POP: 1 + registers
* branches: 1 when not taken, 1 + 2 when taken (pipeline refill P = 2 assumed); POP {.., pc}
  and BX add P; the taken share of a conditional branch is estimated from how often the next
  instruction ran (count(branch) - count(fall-through), at least 0)
* SDIV/UDIV: 7 (the TRM gives 2-12)

Only the cores' executed instructions inside model code are weighted; the result is the
model's instruction count times the resulting cycles per instruction. It is an estimate:
real parts add flash wait states (an M4 at 120 MHz runs from flash with an accelerator).
Report it next to, never instead of, the instruction count.
"""
from __future__ import annotations

import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

_COND = "(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)"
_BRANCH = re.compile(rf"^(b|bl|blx|bx){_COND}?$")
_LDST_SINGLE = re.compile(rf"^(ldr|str)(b|h|sb|sh|t|bt|ht|sbt|sht|ex|exb|exh)?{_COND}?$")
_LDST_DOUBLE = re.compile(rf"^(ldrd|strd){_COND}?$")
_MULTI = re.compile(rf"^(ldm|stm|push|pop|vpush|vpop|ldmia|ldmdb|stmia|stmdb|stmea|ldmfd){_COND}?$")
_DIV = re.compile(rf"^(sdiv|udiv){_COND}?$")


def _disassemble(elf: Path) -> Dict[int, Tuple[str, str]]:
    """{address: (mnemonic without .n/.w, operands)}."""
    out = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(elf)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    insns = {}
    for line in out.splitlines():
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m:
            mnem = m.group(2).split(".")[0].lower()
            insns[int(m.group(1), 16)] = (mnem, m.group(3))
    return insns


def _functions(elf: Path) -> Iterable[Tuple[int, int, str]]:
    out = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(elf)], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tT":
            yield int(p[0], 16) & ~1, int(p[1], 16), p[3]


def _cost(mnem: str, ops: str, prev_ldst: bool) -> Tuple[int, bool, bool]:
    """(base cycles, is a single load/store, is a branch that may be taken)."""
    if _LDST_SINGLE.match(mnem):
        if "pc" in ops.split(",")[0] and mnem.startswith("ldr"):
            return 4, False, False
        return (1 if prev_ldst else 2), True, False
    if _LDST_DOUBLE.match(mnem):
        return 3, False, False
    if _MULTI.match(mnem):
        n = len(re.findall(r"r\d+|lr|pc|ip|sl|fp|sp|s\d+|d\d+", ops.split("{", 1)[-1])) if "{" in ops else 1
        extra = 2 if "pc" in ops else 0
        return 1 + n + extra, False, False
    if _DIV.match(mnem):
        return 7, False, False
    if _BRANCH.match(mnem) or mnem in ("cbz", "cbnz", "tbb", "tbh"):
        return 1, False, True
    return 1, False, False


def mix_cycles(elf: Path, histogram: Dict[int, Tuple[int, int]], keep) -> Tuple[int, int]:
    """(instructions, estimated cycles) over the histogram addresses for which keep(addr)."""
    insns = _disassemble(Path(elf))
    addrs = sorted(histogram)
    total_i = total_c = 0
    prev_ldst = False
    prev_addr = None
    for a in addrs:
        size, count = histogram[a]
        if not keep(a):
            prev_ldst = False
            continue
        mnem, ops = insns.get(a, ("?", ""))
        base, is_ldst, is_branch = _cost(mnem, ops, prev_ldst and prev_addr is not None)
        cyc = base * count
        if is_branch:
            uncond = mnem in ("b", "bl", "blx", "bx")
            fall = histogram.get(a + size, (0, 0))[1]
            taken = count if uncond else max(count - min(fall, count), 0)
            cyc += 2 * taken
        total_i += count
        total_c += cyc
        prev_ldst = is_ldst
        prev_addr = a
    return total_i, total_c


def estimate_region_cycles(fw, histogram, region_total_instr: int, first_instr: int,
                           model_objects=(), exclude=("bench_", "main")) -> Optional[int]:
    """Estimated M4 cycles of the first inference: its instruction count times the cycles
    per instruction of all executed code outside the harness functions."""
    funcs = [(s, s + n, name) for s, n, name in _functions(fw.elf)
             if not any(name.startswith(e) for e in exclude)
             and name not in ("Reset_Handler", "Fault_Handler", "Default_Handler", "_sbrk")]
    funcs.sort()

    @lru_cache(maxsize=None)
    def keep(a: int) -> bool:
        for s, e, _ in funcs:
            if s <= a < e:
                return True
        return False

    n, c = mix_cycles(fw.elf, histogram, keep)
    if n == 0:
        return None
    return int(round(first_instr * c / n))
