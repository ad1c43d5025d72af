"""``qnnc build``: every stage in order, then the output folder written atomically.

import -> passes -> quantize (pipeline.py), then patches + memory plan, budgets, C emission,
test data, runtime kernels and reports, all in memory; emit/output_dir.py writes them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import onnx

from . import __version__
from .plan.budget import check_flash, check_ram
from .reference.checksum import layer_checksums
from .config import Config, c_name_problem
from .frontend.data import load_samples
from .frontend.qdq import integer_input_codes, is_prequantized
from .emit import emit_c, emit_test_data
from .emit.output_dir import check_output_dir, seal, write_output
from .errors import ConfigError, DataError, ModelError
from .pipeline import Compiled, compile_model
from .plan.patches import apply_patches
from .plan.memory import MemoryPlan, plan_memory
from .plan.paired_conv import mark_paired_convs
from .plan.wide_weights import auto_budget, choose_wide_layers, eligible
from .reference.interpreter import quantize_input, run_int8
from .report import build_report, summary_line
from .report.pages import html_report, markdown_report
from .runtime import runtime_files

@dataclass
class BuildResult:
    """Everything a build produced."""

    compiled: Compiled
    plan: MemoryPlan
    files: Dict[str, str]
    report: Dict
    summary: str


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def input_files(model_path: str, cfg: Config, check: bool = True) -> List[str]:
    """Absolute paths of every file the build reads (model, config, data).

    With ``check``, a file that does not exist is the user's error, raised with the config's
    file:line and key: build systems turn this list into dependencies, and a missing one would
    otherwise fail as the build tool's own "no rule to make it" instead of qnnc's message.
    """
    external = external_data_files(model_path)
    files = [os.path.abspath(model_path)] + external + [os.path.abspath(p) for p in cfg.input_files()]
    if check:
        if not os.path.isfile(files[0]):
            raise ModelError("the model file does not exist" if not os.path.exists(files[0]) else
                             "the model path is not a file", file=files[0])
        for p in external:
            if not os.path.isfile(p):
                raise ModelError(f"the model keeps tensors in '{p}' (ONNX external data), which does not exist: "
                                 "copy it next to the model", file=files[0])
        for ref in (cfg.calibration, cfg.test_data):
            if ref is not None and not os.path.isfile(ref.path):
                what = "does not exist" if not os.path.exists(ref.path) else "is not a file"
                raise DataError(f"data file '{ref.path}' {what}", file=cfg.source, key=ref.yaml_key,
                                line=ref.line)
    return files


def external_data_files(model_path: str) -> List[str]:
    """Absolute paths of the files holding the model's tensors stored outside it (ONNX external
    data, next to the model), in order of first use; none when the model cannot be read."""
    try:
        m = onnx.load(model_path, load_external_data=False)
    except Exception:  # a missing or broken model: the import says what is wrong with it
        return []
    tensors = list(m.graph.initializer) + [a.t for n in m.graph.node for a in n.attribute if a.HasField("t")]
    out: List[str] = []
    for t in tensors:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            loc = next((e.value for e in t.external_data if e.key == "location"), None)
            path = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(model_path)), loc)) if loc else None
            if path is not None and path not in out:
                out.append(path)
    return out


def provenance(model_path: str, cfg: Config) -> Dict[str, str]:
    files = {os.path.basename(p): _sha256(p)[:16] for p in input_files(model_path, cfg, check=False)
             if os.path.isfile(p)}
    h = hashlib.sha256(__version__.encode())
    for k in sorted(files):
        h.update(k.encode() + b"=" + files[k].encode())
    return {"qnnc": __version__, "inputs_sha256": h.hexdigest()[:16], "files": files}


def _choose_wide_weights(model, compiled, cfg: Config, flash_budget: Optional[int],
                         flash_size: Optional[int]) -> None:
    """``execution.wide_weights`` (plan/wide_weights.py): mark the layers, say so in the notes."""
    if cfg.wide_weights is False or not any(eligible(o) for op in model.ops for o in [op] + op.sub_ops):
        return
    if cfg.wide_weights == "auto":
        budget, why = auto_budget(cfg.target, flash_size, flash_budget)
        if budget is None:
            if not why:
                return
            note = (f"execution.wide_weights: auto keeps int8 fully connected and conv weights ({why}; set it to "
                    "true for int16 weights on the Cortex-M4/M7/M33 DSP path: fewer cycles, 2x their flash there)")
            compiled.notes.append(note)
            model.notes.append(note)
            return
        within = f"within half of the board's {flash_size // 1024} KiB of flash"
    else:
        budget, within = flash_budget, "within the flash budget"
    wide, added = choose_wide_layers(model, budget)
    n_conv = sum(1 for op in wide if op.kind == "conv")
    kinds = " and ".join(f"{n} {what} layer(s)" for n, what in ((len(wide) - n_conv, "fully connected"),
                                                                 (n_conv, "conv")) if n)
    note = (f"execution.wide_weights: {kinds} with int16 weights on the Cortex-M "
            f"DSP path (M4/M7/M33), +{added} B of flash there" if wide else
            "execution.wide_weights: no layer takes int16 weights (fully connected layers with in/out "
            f"features multiples of 4 and convs with the DSP path's channel-pair layout, {within})")
    compiled.notes.append(note)
    model.notes.append(note)


def generate(model_path: str, cfg: Config, name: str, runtime: bool = True, progress: bool = True,
             ram_budget: Optional[int] = None, flash_budget: Optional[int] = None,
             budget_origin: Optional[Dict[str, str]] = None, require_calibration: bool = False,
             flash_size: Optional[int] = None) -> BuildResult:
    """Run every stage and return the files to write (nothing touches the disk).

    ``ram_budget``/``flash_budget`` override the config's budgets (bytes); ``budget_origin``
    ({"ram"|"flash": name}) names the setting they came from in errors (a Kconfig symbol, a
    platformio.ini key; default: the CLI flag). ``require_calibration`` (firmware builds) refuses
    a float model whose config names no calibration data and does not opt in to random inputs.
    ``flash_size``: the board's flash in bytes, if the build system knows it (``wide_weights: auto``).
    """
    if require_calibration:
        check_calibration_given(model_path, cfg)
    compiled = _compile(model_path, cfg, name, progress)
    external = not cfg.input_in_arena

    def plan_fn(m):
        return plan_memory(m, external_input=external)

    # the DSP builds' conv weight layout (plan/paired_conv.py); patch segments keep these ops as sub-ops
    mark_paired_convs(compiled.model)
    if cfg.patch_layers is not None:
        compiled.model, _ = apply_patches(compiled.model, cfg.patch_layers, cfg.patches, plan_fn, cfg.source,
                                          cfg.lines.get("execution.patch_layers"))
    model = compiled.model
    _choose_wide_weights(model, compiled, cfg, flash_budget if flash_budget is not None else cfg.flash_budget,
                         flash_size)
    plan = plan_fn(model)
    check_budgets(model, plan, cfg, ram_budget, flash_budget, budget_origin)
    prov = provenance(model_path, cfg)
    prov_line = (f"model {os.path.basename(model_path)}, inputs sha256 {prov['inputs_sha256']} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(prov['files'].items()))})")
    files = emit_c(model, plan, prov_line)
    if model.uint8_inputs and plan.external_input:
        raise ConfigError(f"the uint8 input '{model.uint8_inputs[0]}' is converted to int8 (byte - 128) while it is "
                          "copied into the arena, so it cannot be read in place: set execution.input_in_arena: "
                          "true", file=cfg.source, key="execution.input_in_arena",
                          line=cfg.lines.get("execution.input_in_arena"))
    if cfg.test_data is not None and model.multi_io:
        raise ConfigError(f"test_data (the <name>_test_data.c self-test) supports models with one float input and "
                          f"one output; this model has {len(model.inputs)} inputs and {len(model.outputs)} outputs"
                          f"{' (uint8 input)' if model.uint8_inputs else ''}"
                          f"{' (token ids)' if model.index_inputs else ''}"
                          f"{' (an int16 index output)' if any(t.bits == 16 for t in model.output_tensors) else ''}"
                          ": check it with 'qnnc validate' instead",
                          file=cfg.source, key="test_data",
                          line=cfg.lines.get("test_data"))
    if cfg.test_data is not None:
        xs, ys = load_samples(cfg.test_data, compiled.graph.inputs[0], model.input_tensor.shape
                              if cfg.layout != "nhwc" else _model_shape(compiled), cfg.source,
                              integer_input_codes(compiled.graph.quant).get(compiled.graph.inputs[0]),
                              compiled.graph.inputs[0] in compiled.graph.value_inputs)
        if cfg.test_data.count is not None and len(xs) < cfg.test_data.count:
            note = (f"test_data.count asks for {cfg.test_data.count} samples; '{cfg.test_data.path}' holds "
                    f"{len(xs)}, all of which the self-test embeds")
            compiled.notes.append(note)
            model.notes.append(note)
        xs = _api_layout(xs, cfg)
        q_in = quantize_input(model, xs)
        expected = run_int8(model, q_in)
        files.update(emit_test_data(model, q_in, expected, ys, layer_checksums(model, q_in), prov_line))
    if runtime:
        files.update(runtime_files(model.kernels_used()))
    report = build_report(model, plan, prov, cfg.target)
    report["calibration"] = compiled.calibration
    files[f"{name}_report.json"] = json.dumps(report, indent=1, sort_keys=True) + "\n"
    files[f"{name}_report.md"] = markdown_report(report)
    files[f"{name}_report.html"] = html_report(report)
    files = seal(files, model.name)  # <name>_build_id.h: files of two builds never compile together
    return BuildResult(compiled, plan, files, report, summary_line(report))


def check_calibration_given(model_path: str, cfg: Config) -> None:
    """Firmware builds: a float model needs calibration data or the config's explicit opt-in to
    random inputs or to data-free BatchNormalization ranges (``method: batchnorm``); activation
    ranges from random inputs ship a model that is wrong on real data."""
    if cfg.calibration is not None or cfg.random_calibration or cfg.method == "batchnorm":
        return
    try:
        model = onnx.load(model_path, load_external_data=False)
    except Exception:  # noqa: BLE001 - the import reports an unreadable model with its own message
        return
    if is_prequantized(model):  # QDQ/QOperator models carry their own scales
        return
    raise ConfigError(
        "no calibration data: this firmware build would ship a model whose activation ranges come from random "
        "inputs, so its results on real data would be wrong. Name representative inputs in calibration.data "
        "(an .npz/.npy file relative to the config; see README 'Calibration data'), or, for sizing and "
        "coverage checks only, opt in with 'calibration: {random_inputs: true}'" + _batchnorm_offer(model),
        file=cfg.source or "(no --config given)", key="calibration.data", line=cfg.lines.get("calibration"))


def _batchnorm_offer(model) -> str:
    """The data-free option, for a model that still has BatchNormalization statistics."""
    bn = sum(1 for n in model.graph.node if n.op_type == "BatchNormalization")
    if not bn:
        return ""
    return (f". This model has {bn} BatchNormalization layer(s): without data, 'calibration: {{method: batchnorm}}' "
            "derives the ranges from their trained statistics (data-free, its expected quality is reported)")


def _where(cfg: Config, key: str, override: Optional[int], origin: Optional[str]) -> str:
    """How the user set a budget, in the words the user wrote it: for an override, the setting of
    the build system that passed it (``origin``: a Kconfig symbol, a platformio.ini key; see
    ``qnnc build --budget-origin``), else the CLI flag; without one, the YAML key with file:line."""
    if override is not None or not cfg.source:
        return origin or f"--{key.replace('_', '-')}"
    line = cfg.lines.get(key)
    return f"{key} in {os.path.basename(cfg.source)}" + (f":{line}" if line else "")


def check_budgets(model, plan: MemoryPlan, cfg: Config, ram_override: Optional[int] = None,
                  flash_override: Optional[int] = None, origin: Optional[Dict[str, str]] = None) -> None:
    """Apply the config's budgets, or the overrides when given; ``origin`` ({"ram"|"flash":
    name}) names the build-system setting an override came from."""
    origin = origin or {}
    ram = ram_override if ram_override is not None else cfg.ram_budget
    flash = flash_override if flash_override is not None else cfg.flash_budget
    check_ram(model, plan, ram, _where(cfg, "ram_budget", ram_override, origin.get("ram")))
    check_flash(model, flash, _where(cfg, "flash_budget", flash_override, origin.get("flash")))


def _compile(model_path: str, cfg: Config, name: str, progress: bool) -> Compiled:
    """The front half; onnxruntime refusing to run the float model is the model's problem (exit 2)."""
    try:
        return compile_model(model_path, cfg, name, progress)
    except Exception as e:
        if not type(e).__module__.startswith("onnxruntime"):
            raise
        text = " ".join(str(e).split())
        node = re.search(r"[Nn]ode\. ?Name: ?'([^']*)'", text)
        raise ModelError(f"onnxruntime (which runs the float model for calibration) cannot run it: {text}",
                         file=model_path, node=node.group(1) if node else None) from None


def _model_shape(compiled: Compiled):
    t = compiled.model.input_tensor.shape
    return (t[0], t[3], t[1], t[2]) if len(t) == 4 else t


def _api_layout(xs: np.ndarray, cfg: Config) -> np.ndarray:
    if cfg.layout == "nhwc" and xs.ndim == 4:
        return np.ascontiguousarray(xs.transpose(0, 2, 3, 1))
    return xs


def build(model_path: str, cfg: Config, out_dir: str, name: str, runtime: bool = True,
          progress: bool = True, ram_budget: Optional[int] = None, flash_budget: Optional[int] = None,
          budget_origin: Optional[Dict[str, str]] = None, require_calibration: bool = False,
          flash_size: Optional[int] = None) -> BuildResult:
    """Generate and write; the output folder is untouched if generation fails."""
    check_output_dir(os.path.abspath(out_dir))
    result = generate(model_path, cfg, name, runtime, progress, ram_budget, flash_budget, budget_origin,
                      require_calibration, flash_size)
    write_output(result.files, out_dir, result.compiled.model.name)
    return result


def default_name(model_path: str, cfg: Config, override: Optional[str]) -> str:
    """The C prefix (--name, else the config's name, else the model file stem), checked."""
    from .pipeline import model_name
    name = model_name(cfg, model_path, override)
    problem = c_name_problem(name)
    if problem and override:
        raise ConfigError(problem, key="--name")
    if problem and not override and not cfg.name:  # derived from the file name: make it fit
        name = "m_" + "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in name)[:38]
    return name
