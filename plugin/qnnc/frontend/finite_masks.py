"""Attention-mask fills made moderate (ONNX -> ONNX).

PyTorch's ``masked_fill(mask, float('-inf'))`` and ``nn.Transformer``'s causal masks export as a
Where selecting a -inf constant, or an Add of a constant holding -inf, right before a Softmax;
other exporters write -1e9 or the float32 minimum. An int8 tensor cannot hold -inf (and the float
run would put it into the calibration ranges), and a fill of -1e9 next to the scores leaves them
no resolution wherever the fill and the scores meet in one int8 tensor before the Softmax (a mask
computed from an input: scores * keep + fill * (1 - keep)). For a Softmax reading the result,
-1e4 is the same as -inf: exp(-1e4 - max) is 0 in float32 as exp(-inf) is, for any score above
-9,900 (but a row masked entirely: after an Add of -1e9 it is uniform, after one of -1e4 the
scores' own Softmax). So where only a Softmax reads such an Add / Where (also through views), the
entries of its constant operand below -1e4 (-inf included) become -1e4; quantize/calibrate_softmax.py
then floors the Softmax input's range near the scores. Elsewhere a non-finite constant is refused as
before. A mask a constant subgraph computes (ConstantOfShape(-inf) -> Trilu: causal masks built in
the forward pass) is evaluated here, before the importer's folding, and taken as a constant; so is
one that is constant once the shape arithmetic folds (ONNX's Attention body pads the mask to the
scores' shape with pads computed by Shape). A mask computed from an input (a padding mask:
``masked_fill(mask == 0, -inf)``) is a Where selecting between constants that reaches the Add
through views: its constants are made moderate the same way.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import numpy_helper

from .onnx_fold import evaluate_node, fold_or_none
from .onnx_names import NewTensors, defined_names, drop_dead_nodes, read_names, subgraphs
from .softmax_inputs import VIEW_OPS, softmax_feeds

#: What a mask entry below it (-inf included) becomes.
MASK_FILL = -1e4


def finite_masks(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with the entries below :data:`MASK_FILL` (-inf included) of the constant operands
    of Add / Where nodes that only Softmaxes read (also through views: softmax_inputs.py) replaced by
    it; the model itself when it has none."""
    g = model.graph
    stored = {i.name: i for i in g.initializer}  # converted to arrays only where read
    stored.update((n.output[0], n.attribute[0].t) for n in g.node if n.op_type == "Constant" and
                  len(n.attribute) == 1 and n.attribute[0].type == onnx.AttributeProto.TENSOR)
    heads = {head for head, feed in softmax_feeds(g.node, [o.name for o in g.output]).items()
             if feed.head_op in ("Add", "Where")}
    computed = _computed_from_constants(g, set(stored))
    edits = []  # (node index, input index, moderate array)
    folded: Optional[Dict[str, onnx.TensorProto]] = None
    for k, n in enumerate(g.node):
        if n.op_type not in ("Add", "Where") or n.output[0] not in heads:
            continue
        for j in ((0, 1) if n.op_type == "Add" else (1, 2)):
            x = n.input[j] if j < len(n.input) else ""
            arr = numpy_helper.to_array(stored[x]) if x in stored else \
                _evaluate(model, x, computed[x], stored) if x in computed else None
            if arr is None and x:  # a mask padded to the scores' static shape (ONNX's Attention
                # body: Pad by pads computed with Shape): a constant once the shapes fold
                folded = _folded(model) if folded is None else folded
                arr = numpy_helper.to_array(folded[x]) if x in folded else None
            if arr is not None and arr.dtype.kind == "f" and np.any(arr < MASK_FILL) and \
                    not np.any(np.isnan(arr) | np.isposinf(arr)):
                edits.append((k, j, np.maximum(arr, MASK_FILL).astype(arr.dtype)))
    edits += _computed_mask_fills(g, heads, stored)
    if not edits:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    new = NewTensors()
    new.names = defined_names(m.graph)
    for k, j, arr in edits:
        node = m.graph.node[k]
        node.input[j] = new.const(f"{node.input[j]}_moderate", arr)
    m.graph.initializer.extend(new.inits)
    drop_dead_nodes(m.graph)  # a mask's constant subgraph, now read by no one
    return m


def _moderated(arr: np.ndarray) -> Optional[np.ndarray]:
    """``arr`` with its entries below MASK_FILL raised to it, or None if it has none (or NaN, +inf)."""
    if arr.dtype.kind == "f" and np.any(arr < MASK_FILL) and not np.any(np.isnan(arr) | np.isposinf(arr)):
        return np.maximum(arr, MASK_FILL).astype(arr.dtype)
    return None


def _computed_mask_fills(g: onnx.GraphProto, heads, stored) -> List[Tuple[int, int, np.ndarray]]:
    """Edits of a mask computed from an input: an Add head (of a Softmax's input) whose other
    operand is, through views and Expands each read by the next alone, a Where selecting between
    constants (``masked_fill(mask == 0, -inf)`` on a padding mask input, before the heads'
    Reshapes): the Where's constants' entries below MASK_FILL become it."""
    producer = {o: k for k, n in enumerate(g.node) for o in n.output}
    readers: Dict[str, int] = {}
    for n in g.node:
        # a graph output, or a name an If / Loop body reads, has a reader the walk cannot see
        for i in list(set(n.input)) + sorted(set().union(*(read_names(sub) for sub in subgraphs(n)))):
            readers[i] = readers.get(i, 0) + 1
    for o in g.output:
        readers[o.name] = readers.get(o.name, 0) + 1
    edits = []
    for n in g.node:
        if n.op_type != "Add" or n.output[0] not in heads:
            continue
        for x in n.input:
            while x in producer and g.node[producer[x]].op_type in VIEW_OPS + ("Expand",) and readers.get(x) == 1:
                x = g.node[producer[x]].input[0]
            if x not in producer or g.node[producer[x]].op_type != "Where" or readers.get(x) != 1:
                continue
            k = producer[x]
            if not all(c in stored for c in g.node[k].input[1:3]):
                continue  # a computed branch (the scores themselves): no mask fill
            for j in (1, 2):
                fixed = _moderated(numpy_helper.to_array(stored[g.node[k].input[j]]))
                if fixed is not None:
                    edits.append((k, j, fixed))
    return edits


def _folded(model: onnx.ModelProto) -> Dict[str, onnx.TensorProto]:
    """The tensors the shape arithmetic folds to constants (empty when folding fails)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    folded = fold_or_none(model, opset)
    return {} if folded is None else {i.name: i for i in folded.graph.initializer}


def _computed_from_constants(g: onnx.GraphProto, constants: set) -> Dict[str, List[int]]:
    """{tensor: indices of the nodes computing it} for the tensors nodes compute from constants
    only (a causal mask: ConstantOfShape(-inf) -> Trilu), by nodes without subgraphs."""
    computed: Dict[str, List[int]] = {}
    for k, n in enumerate(g.node):
        if n.op_type == "Constant" or subgraphs(n) or not n.input:
            continue
        ins = [i for i in n.input if i]
        if all(i in constants or i in computed for i in ins):
            nodes = sorted({k}.union(*[computed.get(i, []) for i in ins]))
            for o in n.output:
                if o:
                    computed[o] = nodes
    return computed


def _evaluate(model: onnx.ModelProto, name: str, nodes: List[int], stored) -> Optional[np.ndarray]:
    """The value of ``name``, computed by ``nodes`` (indices, in order) from the model's constants
    ``stored`` (onnx_fold's node evaluator); None where the evaluator cannot run them."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    values: Dict[str, np.ndarray] = {}
    try:
        for k in nodes:
            n = model.graph.node[k]
            for i in n.input:
                if i and i not in values:
                    values[i] = numpy_helper.to_array(stored[i])
            values.update(zip(n.output, (np.asarray(v) for v in evaluate_node(n, values, opset))))
        return values[name]
    except Exception:  # an op the evaluator lacks: the mask stays as it is (and is refused later if -inf)
        return None
