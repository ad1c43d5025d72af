"""Inputs of rank 1 or 0: one sample with no batch dimension (a PyTorch module traced with
``torch.randn(10)``, a scalar parameter input, a hand-built graph, the ONNX backend test models of
element-wise ops).

qnnc compiles single-sample inference with dim 0 of each input as the batch, so an input [N] gets
that dimension: the graph input becomes [1, N] and one Reshape back to [N] (shape [-1]: N may be
pinned only later) feeds what read it; a scalar input becomes [1], reshaped back to a scalar.
The firmware API, the data files (one row of N values per sample) and the calibration then see
the single sample the model was traced with; the rest of the graph is unchanged (rank-1 tensors
inside a graph are ordinary tensors to qnnc).
"""
from __future__ import annotations

from typing import List

import numpy as np
import onnx
from onnx import numpy_helper

from .onnx_names import defined_names, subgraphs


def _rewire(g: onnx.GraphProto, old: str, new: str) -> None:
    """Nodes of g reading ``old`` read ``new``, in the subgraphs too, except those that define a
    tensor of that name themselves (a body's own input shadows the outer one)."""
    for node in g.node:
        for k, x in enumerate(node.input):
            if x == old:
                node.input[k] = new
        for sub in subgraphs(node):
            own = {i.name for i in sub.input} | {i.name for i in sub.initializer} | \
                {o for n in sub.node for o in n.output}
            if old not in own:
                _rewire(sub, old, new)


def batch_unbatched_inputs(model: onnx.ModelProto) -> List[str]:
    """Give each real input of shape [N] (N static and > 1, or dynamic) or [] a batch dimension, in
    place: the input [1, N] (or [1]), a Reshape to [N] (or []) before its readers; returns their
    names. A graph output that is such an input itself is left to the importer's refusal of
    pass-through outputs."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    taken = defined_names(g)
    done, reshapes = [], []
    for inp in g.input:
        if inp.name in inits or not inp.type.HasField("tensor_type") or not inp.type.tensor_type.HasField("shape"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) > 1 or len(dims) == 1 and dims[0].HasField("dim_value") and dims[0].dim_value <= 1:
            continue
        target = np.array([-1] if dims else [], np.int64)
        flat, shape = f"{inp.name}__sample", f"{inp.name}__sample_shape"
        while flat in taken or shape in taken:
            flat, shape = flat + "_", shape + "_"
        taken.update((flat, shape))
        _rewire(g, inp.name, flat)
        if dims:
            dims.add().CopyFrom(dims[0])
            dims[0].Clear()
        else:
            dims.add()
        dims[0].dim_value = 1
        # (a Constant node, not an initializer: IR 3 models list every initializer as an input)
        reshapes += [onnx.helper.make_node("Constant", [], [shape], name=shape,
                                           value=numpy_helper.from_array(target, shape)),
                     onnx.helper.make_node("Reshape", [inp.name, shape], [flat], name=flat)]
        done.append(inp.name)
    if reshapes:
        nodes = reshapes + list(g.node)
        del g.node[:]
        g.node.extend(nodes)
        del g.value_info[:]  # (shapes inferred again)
    return done
