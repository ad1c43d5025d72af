"""Bare-metal QEMU harness: build firmware for an emulated Cortex-M (or RISC-V rv32) core, run it,
count instructions.

Method: ``../shared/docs/measuring.md``. One firmware = the startup code in ``firmware/``,
a ``main.c`` written by the caller, and any C sources (generated model, kernels, test
drivers). It runs under ``qemu-system-arm`` with semihosting (output on stdout, the guest's
exit code becomes QEMU's) and the TCG plugin in ``plugin/insn_count.c``, built here with the
host gcc into the build directory (never committed).

The plugin logs the executed-instruction counter at every region marker
(``BENCH_BEGIN()`` = ``mov r10, r10``, ``BENCH_END()`` = ``mov r11, r11``, see
``firmware/bench_support.h``); :func:`regions` turns that log into a tree of regions whose
counts exclude the markers themselves (an empty region counts 0).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
FIRMWARE = HERE / "firmware"
PLUGIN_SRC = HERE / "plugin" / "insn_count.c"

@dataclass(frozen=True)
class Toolchain:
    """What one instruction-set family needs: cross gcc, binutils prefix, QEMU, start-up code,
    linker script template, link flags, extra QEMU arguments and the Debian packages."""

    prefix: str
    qemu: str
    startup: str
    linker_script: str
    link_flags: Tuple[str, ...]
    qemu_args: Tuple[str, ...]
    plugin_args: str
    packages: str

    @property
    def cc(self) -> str:
        return self.prefix + "gcc"


TOOLCHAINS: Dict[str, Toolchain] = {
    "arm": Toolchain("arm-none-eabi-", "qemu-system-arm", "startup.c", "link.ld.in",
                     ("-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"),
                     (), "", "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"),
    # picolibc for memcpy/malloc; QEMU's virt board boots the ELF at 0x80000000 without firmware.
    "riscv": Toolchain("riscv64-unknown-elf-", "qemu-system-riscv32", "startup_riscv.c", "link_riscv.ld.in",
                       ("-nostartfiles", "--oslib=semihost", "-Wl,--gc-sections"),
                       ("-bios", "none"), ",arch=riscv",
                       "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"),
}
CC = TOOLCHAINS["arm"].cc
QEMU = TOOLCHAINS["arm"].qemu


@dataclass(frozen=True)
class Machine:
    """One emulated core: QEMU machine, gcc flags and memory map."""

    key: str
    core: str
    qemu_machine: str
    cflags: Tuple[str, ...]
    flash: Tuple[int, int]  # origin, length
    ram: Tuple[int, int]
    kernel_path: str        # which qnnc kernel path the compiler macros select
    arch: str = "arm"       # key of TOOLCHAINS

    @property
    def tools(self) -> Toolchain:
        return TOOLCHAINS[self.arch]


MACHINES: Dict[str, Machine] = {
    "m3": Machine("m3", "Cortex-M3", "mps2-an385", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
                  (0x0, 4 << 20), (0x20000000, 4 << 20), "portable"),
    # ARMv6-M code (Cortex-M0/M0+: no unaligned access, Thumb-1 and a few Thumb-2 instructions) on
    # QEMU's M3 board, whose start-up sets CCR.UNALIGN_TRP so an unaligned access faults as on an M0.
    "m0": Machine("m0", "Cortex-M0 (ARMv6-M code on the M3 model)", "mps2-an385",
                  ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"), (0x0, 4 << 20), (0x20000000, 4 << 20),
                  "portable"),
    "m4": Machine("m4", "Cortex-M4F", "mps2-an386",
                  ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"),
                  (0x0, 4 << 20), (0x20000000, 4 << 20), "DSP"),
    "m7": Machine("m7", "Cortex-M7", "mps2-an500",
                  ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"),
                  (0x0, 4 << 20), (0x20000000, 4 << 20), "DSP"),
    "m55": Machine("m55", "Cortex-M55", "mps3-an547", ("-mcpu=cortex-m55", "-mfloat-abi=hard", "-mthumb"),
                   (0x0, 512 << 10), (0x21000000, 4 << 20), "MVE"),
    # RISC-V rv32imac (the multilib Debian's gcc ships; no P extension in GCC 12): portable C path.
    "rv32": Machine("rv32", "RISC-V rv32imac", "virt", ("-march=rv32imac", "-mabi=ilp32", "-mcmodel=medany", "--specs=picolibc.specs"),
                    (0x80000000, 4 << 20), (0x80400000, 4 << 20), "portable", "riscv"),
}

#: Flags for everything the harness compiles (firmware may override the optimization level).
# The DSP/Helium kernel paths are the library default wherever the target has them.
COMMON_CFLAGS = ("-std=c99", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-g")
LINK_FLAGS = TOOLCHAINS["arm"].link_flags
STACK_SIZE = 64 * 1024


class HarnessError(RuntimeError):
    pass


def missing_tools(arch: str = "arm") -> Optional[str]:
    """None when the cross compiler, QEMU and a host gcc are installed, else the reason."""
    tc = TOOLCHAINS[arch]
    missing = [t for t in (tc.cc, tc.qemu, "gcc") if shutil.which(t) is None]
    if arch == "riscv" and not missing and _run([tc.cc, "--specs=picolibc.specs", "-print-file-name=picolibc.specs"]
                                                ).stdout.strip() == "picolibc.specs":
        missing.append("picolibc")
    if missing:
        return f"{', '.join(missing)} not found (Debian: apt-get install {tc.packages} gcc)"
    return None


def missing_tools_for(cores: Sequence[str]) -> Optional[str]:
    """missing_tools of every architecture among ``cores`` (machine keys): the first reason, or None."""
    for arch in sorted({MACHINES[c].arch for c in cores}):
        why = missing_tools(arch)
        if why:
            return why
    return None


def _run(cmd: Sequence[str], timeout: float = 600.0, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)


def build_plugin(build_dir: Path) -> Path:
    """Compile the TCG plugin (cached by source hash) and return the .so path."""
    src = PLUGIN_SRC.read_bytes()
    tag = hashlib.sha256(src).hexdigest()[:12]
    so = Path(build_dir).resolve() / f"insn_count-{tag}.so"
    if not so.is_file():
        Path(build_dir).mkdir(parents=True, exist_ok=True)
        tmp = so.with_suffix(f".{os.getpid()}.tmp")
        r = _run(["gcc", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-o", tmp, PLUGIN_SRC])
        if r.returncode != 0:
            raise HarnessError(f"building the QEMU plugin failed:\n{r.stderr}")
        os.replace(tmp, so)
    return so


def linker_script(machine: Machine, out: Path, stack_size: int = STACK_SIZE) -> Path:
    text = (FIRMWARE / machine.tools.linker_script).read_text()
    for k, v in {"MACHINE": machine.qemu_machine, "FLASH_ORIGIN": hex(machine.flash[0]),
                 "FLASH_LENGTH": hex(machine.flash[1]), "RAM_ORIGIN": hex(machine.ram[0]),
                 "RAM_LENGTH": hex(machine.ram[1]), "STACK_SIZE": hex(stack_size)}.items():
        text = text.replace(f"@{k}@", v)
    out.write_text(text)
    return out


@dataclass
class Firmware:
    elf: Path
    map_file: Path
    machine: Machine


def build_firmware(machine: Machine, sources: Sequence[Path], include_dirs: Sequence[Path], out_dir: Path,
                   name: str = "fw", opt: str = "-O2", per_source_flags: Optional[Dict[str, Sequence[str]]] = None,
                   defines: Sequence[str] = (), extra_cflags: Sequence[str] = (), jobs: int = 1) -> Firmware:
    """Compile ``sources`` + the startup code and link an ELF for ``machine``.

    ``per_source_flags`` maps a source file name (e.g. ``qnnc_conv_s8.c``) to extra flags
    appended after the common ones (used to build kernels at another -O level).
    """
    out_dir = Path(out_dir)
    obj_dir = out_dir / f"obj_{name}"
    obj_dir.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{d}" for d in [FIRMWARE, *include_dirs]]
    base = [machine.tools.cc, *machine.cflags, *COMMON_CFLAGS, opt, *incs, *[f"-D{d}" for d in defines], *extra_cflags]
    objs: List[Path] = []
    procs = []
    for src in [FIRMWARE / machine.tools.startup, *sources]:
        src = Path(src)
        obj = obj_dir / (src.stem + ".o")
        if obj in objs:
            raise HarnessError(f"two sources named {src.stem}")
        objs.append(obj)
        cmd = [*base, *(per_source_flags or {}).get(src.name, ()), "-c", str(src), "-o", str(obj)]
        procs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        if len([p for _, p in procs if p.poll() is None]) >= jobs:
            _wait_all(procs)
            procs = []
    _wait_all(procs)
    ld = linker_script(machine, out_dir / f"{name}.ld")
    elf = out_dir / f"{name}.elf"
    map_file = out_dir / f"{name}.map"
    r = _run([machine.tools.cc, *machine.cflags, opt, *machine.tools.link_flags, "-T", ld, f"-Wl,-Map={map_file}", *objs, "-o", elf])
    if r.returncode != 0:
        raise HarnessError(f"linking {elf.name} failed:\n{r.stderr}")
    return Firmware(elf, map_file, machine)


def _wait_all(procs) -> None:
    errors = []
    for cmd, p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            errors.append(f"$ {' '.join(cmd)}\n{out}")
    if errors:
        raise HarnessError("compilation failed:\n" + "\n".join(errors))


@dataclass
class Region:
    """One marked region: ``count`` = instructions executed between its markers, nested
    regions and their marker instructions included; ``net`` leaves out the nested markers."""

    count: int
    children: List["Region"] = field(default_factory=list)

    @property
    def net(self) -> int:
        """Instructions without any nested marker instructions (2 per nested region)."""
        return self.count - 2 * self.n_nested

    @property
    def n_nested(self) -> int:
        return sum(1 + c.n_nested for c in self.children)


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    total: int
    regions: List[Region]
    histogram: Dict[int, Tuple[int, int]]  # vaddr -> (size, count)


def regions(events: Sequence[Tuple[str, int]]) -> List[Region]:
    """Nesting tree of top-level regions from the plugin's (kind, counter) log.

    The plugin logs the counter before the marker instruction itself is counted, so a region
    B..E counts E - B - 1 instructions (the begin marker is excluded; measured: 0 for an empty
    region, 3001 for a 1000-iteration 3-instruction loop plus its set-up)."""
    stack: List[Tuple[int, Region]] = []
    top: List[Region] = []
    for kind, count in events:
        if kind == "B":
            stack.append((count, Region(0)))
        else:
            if not stack:
                raise HarnessError("region end marker without a begin")
            start, reg = stack.pop()
            reg.count = count - start - 1
            (stack[-1][1].children if stack else top).append(reg)
    if stack:
        raise HarnessError("unterminated region (begin marker without an end)")
    return top


def run_firmware(fw: Firmware, build_dir: Path, hist: bool = False, timeout: float = 900.0) -> RunResult:
    """Run an ELF on its QEMU machine with the counting plugin."""
    so = build_plugin(build_dir)
    out = fw.elf.with_suffix(".counts")
    if out.exists():
        out.unlink()
    plugin_arg = f"{so},out={out}" + (",hist=on" if hist else "") + fw.machine.tools.plugin_args
    console = fw.elf.with_suffix(".console")
    cmd = [fw.machine.tools.qemu, "-M", fw.machine.qemu_machine, *fw.machine.tools.qemu_args, "-nographic", "-monitor", "none", "-serial", "none",
           "-chardev", f"file,id=semihost,path={console}",
           "-semihosting-config", "enable=on,target=native,chardev=semihost", "-kernel", fw.elf,
           "-plugin", plugin_arg, "-d", "plugin"]
    try:
        r = _run(cmd, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"QEMU timed out after {timeout:.0f} s on {fw.elf.name}") from e
    if not out.is_file():
        raise HarnessError(f"QEMU produced no counts (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    total, events, histogram = 0, [], {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if parts[0] == "total":
            total = int(parts[1])
        elif parts[0] in ("B", "E"):
            events.append((parts[0], int(parts[1])))
        elif parts[0] == "H":
            histogram[int(parts[1], 16)] = (int(parts[2]), int(parts[3]))
    text = console.read_text(errors="replace") if console.is_file() else ""
    return RunResult(r.returncode, text, r.stdout + r.stderr, total, regions(events), histogram)


# ------------------------------------------------------------------ flash / RAM --

_SECTION_LINE = re.compile(r"^ (\.\S+|COMMON)\s*(?:\n|$)")
_ENTRY = re.compile(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$")


def map_sections(map_file: Path) -> List[Tuple[str, str, int, str]]:
    """Input sections of the link map: (output section, input section, size, object)."""
    rows = []
    out_sec = None
    pending = None
    started = False
    for line in Path(map_file).read_text().splitlines():
        if line.startswith("Linker script and memory map"):
            started = True
            continue
        if not started:
            continue
        m = re.match(r"^(\.[\w.]+)\s*(0x[0-9a-f]+)?", line)
        if m and not line.startswith(" "):
            out_sec = m.group(1)
            pending = None
            continue
        m = re.match(r"^ (\.[^\s]+|COMMON)(?:\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*))?$", line)
        if m:
            if m.group(2) is None:
                pending = m.group(1)
            else:
                rows.append((out_sec, m.group(1), int(m.group(3), 16), m.group(4)))
                pending = None
            continue
        if pending is not None:
            m = _ENTRY.match(line)
            if m:
                rows.append((out_sec, pending, int(m.group(2), 16), m.group(3)))
            pending = None
    return rows


def classify(obj: str, model_name: Optional[str]) -> str:
    base = os.path.basename(obj.split("(")[0])
    if model_name and base == f"{model_name}_weights.o":
        return "weights"
    if model_name and base == f"{model_name}.o":
        return "generated"
    if base.startswith("qnnc_"):
        return "kernels"
    if base.endswith(".a") or "lib" in obj.split("/")[-1][:3]:
        return "libc"
    return "harness"


def flash_ram(fw: Firmware, model_name: Optional[str] = None) -> Dict[str, Dict[str, int]]:
    """Bytes per category: {"flash": {weights, generated, kernels, libc, harness, total},
    "ram": {...}} from the link map (flash = .text/.rodata/.ARM.exidx + the .data image)."""
    flash: Dict[str, int] = {}
    ram: Dict[str, int] = {}
    for out_sec, _in_sec, size, obj in map_sections(fw.map_file):
        if size == 0 or out_sec is None:
            continue
        cat = classify(obj, model_name)
        if out_sec in (".text", ".ARM.exidx", ".data", ".vectors"):
            flash[cat] = flash.get(cat, 0) + size
        if out_sec in (".data", ".bss"):
            ram[cat] = ram.get(cat, 0) + size
    flash["total"] = sum(v for k, v in flash.items())
    ram["total"] = sum(v for k, v in ram.items())
    return {"flash": flash, "ram": ram}


def symbol_sizes(fw: Firmware) -> Dict[str, Tuple[int, int]]:
    """{symbol: (address, size)} from the toolchain's nm."""
    r = _run([fw.machine.tools.prefix + "nm", "-S", "--defined-only", fw.elf])
    syms = {}
    for line in r.stdout.splitlines():
        p = line.split()
        if len(p) == 4:
            syms[p[3]] = (int(p[0], 16), int(p[1], 16))
    return syms


def size_text(fw: Firmware) -> str:
    return _run([fw.machine.tools.prefix + "size", fw.elf]).stdout


def profile(fw: Firmware, histogram: Dict[int, Tuple[int, int]]) -> List[Tuple[str, int]]:
    """Executed instructions per function (from a ``hist=True`` run), largest first."""
    funcs = sorted((a, a + n, name) for name, (a, n) in symbol_sizes(fw).items() if n > 0 and a < 0x20000000
                   or (fw.machine.flash[0] <= a < fw.machine.flash[0] + fw.machine.flash[1] and n > 0))
    out: Dict[str, int] = {}
    starts = [f[0] & ~1 for f in funcs]
    import bisect
    for addr, (_size, count) in histogram.items():
        i = bisect.bisect_right(starts, addr) - 1
        name = funcs[i][2] if i >= 0 and addr < (funcs[i][1] & ~1) + 1 else "?"
        out[name] = out.get(name, 0) + count
    return sorted(out.items(), key=lambda kv: -kv[1])
