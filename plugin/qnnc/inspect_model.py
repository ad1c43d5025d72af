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
    if n.op in ("Gemm", "MatMul") and len(n.inputs) > 1 and n.inputs[1] in g.tensors:
        w = g.shape(n.inputs[1])
        k = w[1] if n.op == "Gemm" and n.attrs.get("transB", 0) else w[0]
        return int(np.prod(out)) * int(k)
    return 0


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
        nodes.append({
            "name": n.name, "op": n.op,
            "output_shapes": [list(g.shape(o)) for o in n.outputs if o in g.tensors],
            "macs": _macs(g, n),
            "param_bytes": int(sum(g.tensors[i].data.nbytes for i in n.inputs if i and g.is_const(i))),
            "supported": n.op in _ACCEPTED or folded,
            "why": "" if (n.op in _ACCEPTED or folded) else "no int8 kernel for this op",
        })
    verdict = compile_verdict(path, cfg)
    return {
        "model": path, "opset": g.opset,
        "input": {"name": g.inputs[0], "shape": list(g.shape(g.inputs[0]))},
        "output": {"name": g.outputs[0], "shape": list(g.shape(g.outputs[0]))},
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
    lines = [f"{info['model']}: opset {info['opset']}, input {info['input']['name']} {info['input']['shape']}, "
             f"output {info['output']['name']} {info['output']['shape']}"]
    lines += ["  " + "  ".join(c.ljust(x) for c, x in zip(r, w)) for r in rows]
    lines.append(f"total: {info['macs']} MACs, {info['param_bytes']} parameter bytes (float)")
    lines.append("compiles: yes" if info["compiles"] else f"compiles: NO - {info['error']}")
    return "\n".join(lines)
