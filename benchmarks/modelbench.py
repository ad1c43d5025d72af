"""Benchmark one qnnc-generated model on an emulated Cortex-M.

Steps: ``qnnc`` generates the C (``layout: nhwc`` like TFLite Micro, so there is no input
transpose), the generated ``<name>.c`` gets a region marker pair around every layer (a
benchmark-only copy: a ``QNNC_LAYER_BEGIN(i)``/``QNNC_LAYER_END(i)`` hook is used instead
when the emitter provides one), a ``main.c`` runs ``<name>_run`` on a few int8 inputs with
the model region marked, paints the stack before each run and prints the outputs, which are
compared with the numpy reference (``qnnc.reference.interpreter.run_int8``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from . import harness as H
from . import m4cycles

NAME = "m"  # symbol prefix of the generated code

# Extra flags for the kernel sources only (None: the firmware's own flags; the kernel files
# then switch themselves to -O2 when the firmware is built for size, see their #pragma).
KERNEL_OPT = None

# The kernels benchmarked are always this checkout's (the copies in a generated folder may be
# from the installed qnnc); their header comes first on the include path.
RUNTIME = Path(__file__).resolve().parent.parent / "plugin" / "qnnc" / "runtime"


def kernel_files(function: str) -> List[Path]:
    """This checkout's ``runtime/src/<function>.c`` and its ``_dsp.c`` / ``_mve.c`` files."""
    src = RUNTIME / "src"
    return [p for p in (src / f"{function}.c", src / f"{function}_dsp.c", src / f"{function}_mve.c") if p.is_file()]


@dataclass
class LayerResult:
    index: int
    kind: str
    name: str
    macs: int
    instructions: int

    @property
    def per_mac(self) -> Optional[float]:
        return self.instructions / self.macs if self.macs else None


@dataclass
class ModelResult:
    model: str
    machine: str
    macs: int
    instructions: int                 # first inference, markers excluded
    instructions_all: List[int]       # every inference
    layers: List[LayerResult]
    flash: Dict[str, int]
    ram: Dict[str, int]
    arena: int
    stack: int                        # stack bytes used by <name>_run (high-water)
    bit_exact: bool
    n_inputs: int
    mismatches: int
    m4_cycles: Optional[int] = None
    notes: List[str] = field(default_factory=list)

    @property
    def per_mac(self) -> float:
        return self.instructions / self.macs if self.macs else float("nan")


# ----------------------------------------------------------------- generation --


#: flash of the board the benchmark builds are generated for: MLPerf Tiny's Cortex-M4 reference
#: board (NUCLEO-L4R5ZI, STM32L4R5ZI: 2 MiB); execution.wide_weights: auto widens within half of it
BOARD_FLASH = 2 << 20


def generate(onnx_path: Path, out_dir: Path, calibration: Optional[np.ndarray] = None, name: str = NAME,
             extra_config: str = ""):
    """Run qnnc on a model; returns the BuildResult. ``calibration`` (float, model layout)
    is written to an .npz next to the config; None uses the model folder's calibration.npz.
    ``extra_config`` is appended to the YAML config (e.g. a ``quantization:`` section)."""
    from qnnc.build import build
    from qnnc.config import load_config

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cal = out_dir / "calibration.npz"
    if calibration is not None:
        np.savez(cal, x=calibration.astype(np.float32))
    else:
        src = Path(onnx_path).parent / "calibration.npz"
        if not src.is_file():
            raise H.HarnessError(f"no calibration data for {onnx_path}")
        cal = src
    cfg_path = out_dir / "model.yaml"
    cfg_path.write_text(f"name: {name}\nlayout: nhwc\ncalibration:\n  data: {cal}\n  method: minmax\n{extra_config}")
    cfg = load_config(str(cfg_path))
    # what a Zephyr/PlatformIO build for the M4 reference board passes (--target, --flash-size);
    # the generated C serves every core (the int16 FC/conv copies of wide_weights are the DSP cores' only)
    cfg.target = cfg.target or "m4"
    return build(str(onnx_path), cfg, str(out_dir / "gen"), name, progress=False, flash_size=BOARD_FLASH)


_OP_COMMENT = re.compile(r"^    /\* (\d+): ")


def add_layer_markers(c_text: str) -> (str, List[int]):
    """Wrap the statements of every op in ``<name>_forward`` with BENCH_BEGIN/END.

    Returns the new text and the op indices that got a region (views have no code)."""
    if "QNNC_LAYER_BEGIN" in c_text:  # the emitter's own hook: defined by bench_hooks.h
        idx = [int(m) for m in re.findall(r"^\s*QNNC_LAYER_BEGIN\((?:[^,()]*,\s*)?(\d+)\);", c_text, re.M)]
        return '#include "bench_hooks.h"\n' + c_text, idx
    lines = c_text.split("\n")
    out: List[str] = []
    marked: List[int] = []
    cur: Optional[int] = None
    open_region = False
    in_forward = False
    for line in lines:
        if re.match(r"^static void \w+_forward\(", line):
            in_forward = True
        if in_forward:
            m = _OP_COMMENT.match(line)
            if m or line == "}":
                if open_region:
                    out.append("    BENCH_END();")
                    open_region = False
                cur = int(m.group(1)) if m else None
                if line == "}":
                    in_forward = False
            elif cur is not None and line.startswith("    qnnc_"):
                if not open_region:
                    out.append("    BENCH_BEGIN();")
                    open_region = True
                    marked.append(cur)
        out.append(line)
    text = '#include "bench_support.h"\n' + "\n".join(out)
    return text, marked


MAIN_C = r"""
#include <stdint.h>
#include "bench_support.h"
#include "{name}.h"
#include "bench_inputs.h"

extern uint32_t __stack_limit__;
static int8_t bench_out[{P}_OUTPUT_SIZE];

int main(void)
{{
    int32_t i;
    bench_puts("ARENA ");
    bench_put_dec({P}_ARENA_SIZE);
    bench_puts("\n");
    for (i = 0; i < BENCH_N_INPUTS; ++i) {{
        uint32_t sp = bench_sp();
        uint32_t low;
        int rc;
        bench_paint_stack(&__stack_limit__, (uint32_t *)(uintptr_t)((sp - 64u) & ~3u));
        BENCH_BEGIN();
        rc = {name}_run(bench_inputs[i], bench_out);
        BENCH_END();
        low = bench_stack_low(&__stack_limit__, (uint32_t *)(uintptr_t)((sp - 64u) & ~3u));
        bench_puts("OUT ");
        bench_put_dec(i);
        bench_puts(" ");
        bench_put_dec(rc);
        bench_puts(" ");
        bench_put_bytes(bench_out, {P}_OUTPUT_SIZE);
        bench_puts("\nSTACK ");
        bench_put_dec((int32_t)(sp - low));
        bench_puts("\n");
    }}
    return 0;
}}
"""


def _c_bytes(arr: np.ndarray) -> str:
    flat = arr.astype(np.int8).reshape(-1)
    rows = [", ".join(str(int(v)) for v in flat[i:i + 24]) for i in range(0, flat.size, 24)]
    return ",\n    ".join(rows)


def write_inputs(path: Path, q_inputs: np.ndarray) -> None:
    n = q_inputs.shape[0]
    size = int(np.prod(q_inputs.shape[1:]))
    body = ",\n".join("  {\n    " + _c_bytes(q_inputs[i]) + "\n  }" for i in range(n))
    path.write_text(f"#define BENCH_N_INPUTS {n}\nstatic const int8_t bench_inputs[{n}][{size}] = {{\n{body}\n}};\n")


def bench_generated(result, gen_dir: Path, q_inputs: np.ndarray, machine: H.Machine, work: Path,
                    model_label: str, opt: str = "-O2", kernel_opt: Optional[str] = KERNEL_OPT,
                    hist: bool = True) -> ModelResult:
    """Build the firmware for a generated model, run it, compare with the reference."""
    from qnnc.reference.interpreter import run_int8

    model = result.compiled.model
    work = Path(work)
    src_dir = work / "src"
    src_dir.mkdir(parents=True, exist_ok=True)
    P = NAME.upper()
    sources: List[Path] = []
    marked: List[int] = []
    for f in sorted(Path(gen_dir).glob("*.c")):
        if f.name.startswith("qnnc_") and (RUNTIME / "src" / f.name).is_file():
            # this checkout's file, with the _dsp / _mve files of its SIMD paths (a folder
            # generated by another qnnc may lack them)
            sources += [p for p in kernel_files(f.stem) if p not in sources]
        elif f.name == f"{NAME}.c":
            text, marked = add_layer_markers(f.read_text())
            dst = src_dir / f.name
            dst.write_text(text)
            sources.append(dst)
        else:
            sources.append(f)
    write_inputs(src_dir / "bench_inputs.h", q_inputs)
    main_c = src_dir / "bench_main.c"
    main_c.write_text(MAIN_C.format(name=NAME, P=P))
    sources.append(main_c)
    kflags = {f.name: [kernel_opt] for f in sources if f.name.startswith("qnnc_")} if kernel_opt else {}
    fw = H.build_firmware(machine, sources, [RUNTIME / "include", Path(gen_dir), src_dir], work, name=f"{model_label}_{machine.key}",
                          opt=opt, per_source_flags=kflags)
    run = H.run_firmware(fw, work, hist=hist)
    if run.returncode != 0:
        raise H.HarnessError(f"{model_label} on {machine.key}: firmware exited {run.returncode}\n{run.stdout[-3000:]}")
    outs, stacks, arena = {}, [], None
    for line in run.stdout.splitlines():
        p = line.split()
        if not p:
            continue
        if p[0] == "OUT":
            if int(p[2]) != 0:
                raise H.HarnessError(f"{NAME}_run returned {p[2]}")
            outs[int(p[1])] = np.frombuffer(bytes.fromhex(p[3]), dtype=np.int8)
        elif p[0] == "STACK":
            stacks.append(int(p[1]))
        elif p[0] == "ARENA":
            arena = int(p[1])
    n = q_inputs.shape[0]
    if len(outs) != n or len(run.regions) != n:
        raise H.HarnessError(f"expected {n} inferences, got {len(outs)} outputs / {len(run.regions)} regions")
    expected = run_int8(model, q_inputs.reshape((n,) + tuple(model.input_tensor.shape)))
    mism = sum(int(not np.array_equal(outs[i], expected[i].reshape(-1))) for i in range(n))
    first = run.regions[0]
    ops = model.ops
    if len(first.children) != len(marked):
        raise H.HarnessError(f"{len(first.children)} layer regions for {len(marked)} marked ops")
    layers = [LayerResult(i, ops[i].kind, ops[i].name, ops[i].macs, reg.count)
              for i, reg in zip(marked, first.children)]
    fr = H.flash_ram(fw, NAME)
    cycles = None
    if hist and run.histogram:
        cycles = m4cycles.estimate_region_cycles(fw, run.histogram, sum(r.net for r in run.regions), first.net,
                                                 model_objects={f"{NAME}.o"}, exclude=("bench_", "main"))
    return ModelResult(model_label, machine.key, model.macs, first.net, [r.net for r in run.regions], layers,
                       fr["flash"], fr["ram"], arena or 0, max(stacks) if stacks else 0, mism == 0, n, mism,
                       cycles)


# ------------------------------------------------------------------ inputs --


def model_inputs(onnx_path: Path, count: int, seed: int = 7):
    """(calibration floats or None, test floats) in the model's own layout."""
    folder = Path(onnx_path).parent
    shape = _input_shape(onnx_path)
    cal = None
    if not (folder / "calibration.npz").is_file():
        cal = random_float_inputs(folder.name, shape, 64, seed=1)
    test = folder / "test.npz"
    if test.is_file():
        xs = np.load(test)["x"][:count]
    else:
        xs = random_float_inputs(folder.name, shape, count, seed=seed)
    return cal, xs


def random_float_inputs(model: str, shape, count: int, seed: int) -> np.ndarray:
    """Seeded stand-in data (same recipe as tests/shared_models.py)."""
    rng = np.random.default_rng(seed)
    if "resnet" in model or "ic_" in model:  # raw RGB pixels 0..255
        return rng.integers(0, 256, size=(count,) + tuple(shape[1:])).astype(np.float32)
    return (rng.standard_normal((count,) + tuple(shape[1:])) * 8.0 - 20.0).astype(np.float32)


def _input_shape(path: Path):
    import onnx
    m = onnx.load(str(path))
    return [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]


def quantized_inputs(result, xs: np.ndarray) -> np.ndarray:
    """Float inputs (model layout) -> int8 in the generated API layout (NHWC)."""
    from qnnc.reference.interpreter import quantize_input
    if xs.ndim == 4:
        xs = np.ascontiguousarray(xs.transpose(0, 2, 3, 1))
    model = result.compiled.model
    return quantize_input(model, xs.reshape((xs.shape[0],) + tuple(model.input_tensor.shape)))
