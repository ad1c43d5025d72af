"""``qnnc inspect``: what is in a model and whether qnnc can compile it.

The verdict runs exactly build's checks up to and including quantization (import, passes,
precision plan, calibration, lowering with its accumulator checks): it calls the pipeline's
``compile_model`` with build's default calibration (16 seeded random inputs, one small float run
each) instead of the config's data, and without the automatic precision search.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

import numpy as np

from .config import Config
from .errors import QnncError
from .frontend.importer import import_onnx
from .passes import SUPPORTED_OPS, _ACCEPTED


def _macs(g, n) -> int:
    out = g.shape(n.outputs[0]) if n.outputs and n.outputs[0] in g.tensors else ()
    if n.op == "Conv" and g.is_const(n.inputs[1]):
        w = g.shape(n.inputs[1])
        return int(np.prod(out)) * int(np.prod(w[1:]))
    if n.op in ("Gemm", "MatMul") and len(n.inputs) > 1 and n.inputs[0] in g.tensors:
        a = g.shape(n.inputs[0])  # K is A's last dim (its second last with transA; Gemm is 2-D)
        k = a[-2] if n.op == "Gemm" and n.attrs.get("transA", 0) else a[-1]
        return int(np.prod(out)) * int(k)
    if n.op == "ConvTranspose" and g.is_const(n.inputs[1]):
        w = g.shape(n.inputs[1])  # (Cin, Cout/group, k...): every input pixel meets every tap once
        return int(np.prod(g.shape(n.inputs[0]))) * int(np.prod(w[1:]))
    return 0


def _variant_problem(g, n) -> str:
    """Why a node of an accepted op type is still not supported (a variant without a kernel), or ''."""
    if n.op in ("MatMul", "Gemm"):
        ranks = [len(g.shape(i)) for i in n.inputs[:2] if i in g.tensors]
        if any(r > 4 for r in ranks):
            return f"MatMul of rank {' x '.join(map(str, ranks))} (ranks 1 to 4 are supported)"
        if n.op == "Gemm" and len(n.inputs) > 2 and n.inputs[2] and not g.is_const(n.inputs[2]):
            return "Gemm with a computed C operand (C must be a constant)"
    if n.op == "ConvTranspose" and n.inputs[0] in g.tensors and len(g.shape(n.inputs[0])) != 4:
        return f"{len(g.shape(n.inputs[0])) - 2}-D ConvTranspose (only 2-D)"
    return ""


def compile_verdict(path: str, cfg: Config) -> Dict[str, Any]:
    """{"compiles", "error"}: build's own checks up to the quantized model, on random calibration."""
    from .pipeline import compile_model, model_name

    quick = dataclasses.replace(cfg, calibration=None, max_samples=None, auto_precision=None, test_data=None)
    try:
        compile_model(path, quick, model_name(quick, path), progress=False)
    except QnncError as e:
        return {"compiles": False, "error": e.format()}
    return {"compiles": True, "error": None}


def inspect_model(path: str, cfg: Optional[Config] = None) -> Dict[str, Any]:
    """Per-node table and the verdict. Import errors propagate (they are the answer)."""
    cfg = cfg or Config()
    g = import_onnx(path, cfg.input_shape, cfg.source)
    consts = {k for k, t in g.tensors.items() if t.is_const}
    nodes = []
    for n in g.nodes:
        folded = bool(n.inputs) and all((not i) or i in consts for i in n.inputs)
        if folded:
            consts.update(n.outputs)
        why = "" if (n.op in _ACCEPTED or folded) else "no int8 kernel for this op"
        why = why or ("" if folded else _variant_problem(g, n))
        nodes.append({
            "name": n.name, "op": n.op,
            "output_shapes": [list(g.shape(o)) for o in n.outputs if o in g.tensors],
            "macs": _macs(g, n),
            "param_bytes": int(sum(g.tensors[i].data.nbytes for i in n.inputs if i and g.is_const(i))),
            "supported": not why,
            "why": why,
        })
    verdict = compile_verdict(path, cfg)
    return {
        "model": path, "opset": g.opset,
        "input": {"name": g.inputs[0], "shape": list(g.shape(g.inputs[0]))},
        "output": {"name": g.outputs[0], "shape": list(g.shape(g.outputs[0]))},
        "inputs": [{"name": t, "shape": list(g.shape(t))} for t in g.inputs],
        "outputs": [{"name": t, "shape": list(g.shape(t))} for t in g.outputs],
        "nodes": nodes,
        "macs": int(sum(n["macs"] for n in nodes)),
        "param_bytes": int(sum(t.data.nbytes for t in g.tensors.values() if t.is_const)),
        "kernel_ops": sorted(SUPPORTED_OPS),
        **verdict,
    }


def format_inspection(info: Dict[str, Any]) -> str:
    """Plain-text report."""
    rows = [("op", "name", "output", "MACs", "params B", "ok")]
    for n in info["nodes"]:
        rows.append((n["op"], n["name"][:40], ",".join("x".join(map(str, s)) for s in n["output_shapes"]),
                     str(n["macs"]), str(n["param_bytes"]), "yes" if n["supported"] else "NO: " + n["why"]))
    w = [max(len(r[i]) for r in rows) for i in range(6)]
    ins, outs = info.get("inputs", [info["input"]]), info.get("outputs", [info["output"]])

    def listed(kind: str, ts) -> str:
        return f"{kind}{'s' if len(ts) > 1 else ''} " + ", ".join(f"{t['name']} {t['shape']}" for t in ts)

    lines = [f"{info['model']}: opset {info['opset']}, {listed('input', ins)}, {listed('output', outs)}"]
    lines += ["  " + "  ".join(c.ljust(x) for c, x in zip(r, w)) for r in rows]
    lines.append(f"total: {info['macs']} MACs, {info['param_bytes']} parameter bytes (float)")
    lines.append("compiles: yes" if info["compiles"] else f"compiles: NO - {info['error']}")
    return "\n".join(lines)
