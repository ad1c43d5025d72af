"""Build reports: per-layer table, RAM/flash totals, the one-line summary."""
from __future__ import annotations

import textwrap
from typing import Any, Dict, List, Optional

from ..plan import cost_model
from ..plan.memory import MemoryPlan, io_bound
from ..qmodel import QModel


def build_report(model: QModel, plan: MemoryPlan, provenance: Dict[str, Any],
                 target: Optional[str] = None) -> Dict[str, Any]:
    """A JSON-serializable description of the compiled model. ``target`` is the core the
    expected instruction counts are for (``plan.cost_model.CORES``); None assumes
    ``cost_model.DEFAULT_CORE`` and says so."""
    layers: List[Dict[str, Any]] = []
    expected = cost_model.layer_instructions(model, target, plan=plan)
    for i, op in enumerate(model.ops):
        b = plan.buffers[plan.tensor_buffer[op.output]]
        layers.append({
            "index": i,
            "name": op.name,
            "op": op.kind,
            "kernel": op.kernel or ("patches: " + ", ".join(o.kernel for o in op.sub_ops) if op.sub_ops else None),
            "inputs": [[t, list(model.tensors[t].shape)] for t in op.inputs],
            "output": [op.output, list(model.tensors[op.output].shape)],
            "macs": op.macs,
            "weight_bytes": op.weight_bytes,
            "output_bytes": model.tensors[op.output].nbytes,
            "arena_offset": plan.offset(op.output),
            "lifetime": [b.first, b.last],
            "instructions": expected[i],  # expected on the target core (None: a view, no code)
        })
    io = {}
    if model.multi_io:  # every API tensor, in graph order (input/output above are the first ones)
        io = {kind: [{"name": name, "shape": list(t.shape), "bits": t.bits, "scale": t.scale,
                      "zero_point": t.zero_point} for name, t in zip(names, tensors)]
              for kind, names, tensors in (("inputs", model.inputs, model.input_tensors),
                                           ("outputs", model.api_output_names, model.output_tensors))}
    return {
        **io,
        "name": model.name,
        "provenance": provenance,
        "input": {"name": model.input, "shape": list(model.input_tensor.shape), "scale": model.input_tensor.scale,
                  "zero_point": model.input_tensor.zero_point},
        "output": {"name": model.output, "shape": list(model.output_tensor.shape),
                   "scale": model.output_tensor.scale, "zero_point": model.output_tensor.zero_point},
        "arena_bytes": plan.arena_size,
        # with the DSP/Helium kernels' scratch (what Cortex-M4/M7/M33/M55 builds reserve)
        "arena_simd_bytes": max(plan.simd_arena_size, plan.arena_size),
        "lower_bound_bytes": plan.lower_bound,
        "operator_io_bound_bytes": io_bound(model),
        "weight_bytes": model.weight_bytes,
        "macs": model.macs,
        "kernels": model.kernels_used(),
        # expected instructions per inference: the layers plus the run function's input/output copies
        "target": {"core": cost_model.core_name(target), "assumed": target is None,
                   "description": cost_model.core_description(target),
                   "instructions": cost_model.model_instructions(model, target, plan=plan),
                   "method": "cost model fitted to QEMU instruction counts (plan/cost_model.py); "
                             "instructions, not cycles"},
        "layers": layers,
        "buffers": [{"tensors": list(b.tensors), "offset": b.offset, "size": b.size, "first": b.first,
                     "last": b.last} for b in plan.buffers],
        "notes": list(model.notes),
    }


def summary_line(report: Dict[str, Any]) -> str:
    """The one line printed by every build."""
    return (f"qnnc: {report['name']}: {len(report['layers'])} ops, {report['macs']} MACs, "
            f"arena {report['arena_bytes']} B (lower bound {report['lower_bound_bytes']} B"
            + (f"; {report['arena_simd_bytes']} B with DSP/Helium kernel scratch"
               if report.get("arena_simd_bytes", 0) > report["arena_bytes"] else "")
            + f"), weights {report['weight_bytes']} B in flash"
            + (f"; calibrated on {report['calibration']}" if report.get("calibration") else ""))


def _step(step: int, n_ops: int) -> str:
    """A point of the run: the input copy-in (-1), op i, or the output copy-out (n_ops)."""
    if step < 0:
        return "input"
    if step >= n_ops:
        return "output"
    return f"op {step}"


def layer_table(report: Dict[str, Any]) -> str:
    """Plain-text per-layer table for ``qnnc build --verbose`` and ``qnnc inspect``, with a legend."""
    n_ops = len(report["layers"])
    target = report.get("target")
    rows = [("#", "op", "output", "MACs", "weights B", f"instr {target['core']}" if target else "instr",
             "arena off", "buffer live")]
    for l in report["layers"]:
        first, last = l["lifetime"]
        n = l.get("instructions")
        rows.append((str(l["index"]), l["op"], "x".join(map(str, l["output"][1])), str(l["macs"]),
                     str(l["weight_bytes"]), "-" if n is None else str(n), str(l["arena_offset"]),
                     f"{_step(first, n_ops)} .. {_step(last, n_ops)}"))
    if target:
        rows.append(("", "total", "", str(report["macs"]), str(report["weight_bytes"]),
                     str(target["instructions"]), "", "(with input/output copies)"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.rjust(w) if j in (0, 3, 4, 5, 6) else c.ljust(w)
                                for j, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)
    legend = ("arena off: byte offset of the layer's output in the arena; buffer live: from the op that first "
              "writes that buffer to the op that last reads it (input: copied in before op 0, output: copied out "
              "after the last op; views share their input's buffer)")
    cost = (textwrap.fill(f"instr: expected instructions on {target['description']}", width=100) + "\n"
            if target else "")
    return table + "\n" + cost + textwrap.fill(legend, width=100)
