"""A time-major sequence input taken batch-first (ONNX -> ONNX).

ONNX's LSTM / GRU / RNN default to ``layout=0``: ``X`` is ``[sequence, batch, features]``, and
PyTorch exports its default ``batch_first=False`` layers that way, the model input included
(``[20, 1, 12]``). Every later stage of qnnc takes axis 0 of the first input as the batch (one
sample per call, calibration samples stacked on it), which made such an input's sequence a batch
of 20 and the model one step long. So before anything reads the input, it becomes
``[batch, sequence, features...]`` and a Transpose gives its readers the time-major tensor back:
the graph PyTorch exports for ``batch_first=True``, which the recurrent lowering already takes.
The values and their order in memory are the same for batch 1 (the C input buffer does not
change), and a batched float run (validate) stays a batch along the new axis 0.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError
from .onnx_names import NewTensors, defined_names

# Ops through which a tensor's axis 0 stays the axis 0 of their output (one value per element, or
# per-channel constants on other axes): time_major's walk follows them to the recurrent layer.
_AXIS0_KEPT = frozenset({"Identity", "Cast", "Dropout", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Clip", "Neg",
                         "Abs", "Add", "Sub", "Mul", "Div"})
_RECURRENT = ("LSTM", "GRU", "RNN")


def time_major(model: onnx.ModelProto, name: str) -> Optional[onnx.NodeProto]:
    """The LSTM / GRU / RNN of layout 0 whose ``X`` tensor ``name`` reaches through per-element ops
    and Unsqueezes that keep axis 0 (its axis 0 is then a sequence), or None."""
    found = _time_major_walk(model, name)
    return found[0] if found else None


def _time_major_walk(model: onnx.ModelProto, name: str) -> Optional[Tuple[onnx.NodeProto, int]]:
    """(time_major's layer, the axes the walk gained: 1 through the indices of an embedding
    Gather, whose rows add an axis), or None."""
    if not any(n.op_type in _RECURRENT for n in model.graph.node):
        return None  # the common case, on every import and float run: no walk
    consts = {i.name: i for i in model.graph.initializer}
    consts.update({n.output[0]: a.t for n in model.graph.node if n.op_type == "Constant" and n.output
                   for a in n.attribute if a.name == "value"})
    readers: Dict[str, List[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in dict.fromkeys(n.input):
            readers.setdefault(i, []).append(n)
    frontier, seen = [(name, 0)], {name}
    while frontier:
        t, gained = frontier.pop()
        for n in readers.get(t, []):
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            extra = 0
            if n.op_type in _RECURRENT:
                if n.input[0] == t and attrs.get("layout", 0) == 0:
                    return n, gained
                continue
            if n.op_type == "Gather":  # token ids into a constant table: the ids' axis 0 leads the rows
                if list(n.input[1:]) != [t] or n.input[0] not in consts or attrs.get("axis", 0) != 0:
                    continue
                extra = 1
            elif n.op_type == "Unsqueeze":
                axes = attrs.get("axes")
                if axes is None and len(n.input) > 1 and n.input[1] in consts:
                    given = numpy_helper.to_array(consts[n.input[1]])
                    # axes of another type (a float NaN) are the importer's to refuse by name
                    axes = given.reshape(-1).tolist() if given.dtype.kind in "iu" else None
                if axes is None or any(int(a) <= 0 for a in axes):
                    continue
            elif n.op_type not in _AXIS0_KEPT:
                continue
            for o in n.output:
                if o and o not in seen:
                    seen.add(o)
                    frontier.append((o, gained + extra))
    return None


def batch_first_sequence(model: onnx.ModelProto, path: str,
                         pin: Optional[Callable[[onnx.ValueInfoProto], None]] = None,
                         dynamic_length_ok: bool = False) -> Optional[str]:
    """Rewrite a time-major first input (see the module docstring) in place. ``pin(input)`` first
    applies the config's ``input_shape`` to it, in the layout the model declares. Returns the
    input's name when it is time-major (whether or not it needed the rewrite), else None.
    Refused: an unbatched ``[sequence, features]`` input (no batch axis to put first), a dynamic
    sequence length (it must be pinned; ``dynamic_length_ok``: the caller pins the batch-first
    input afterwards, as the float runner does with the compiled shapes) and a batch above 1."""
    init_names = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in init_names]
    if not real or not real[0].type.HasField("tensor_type") or not real[0].type.tensor_type.HasField("shape"):
        return None
    inp = real[0]
    found = _time_major_walk(model, inp.name)
    if found is None:
        return None
    rnn, gained = found  # token ids [sequence, batch] gain the features axis in the Gather
    if pin is not None:
        pin(inp)
    dims = inp.type.tensor_type.shape.dim
    # (an unnamed node by its op type and its index in the graph)
    where = dict(file=path, node=rnn.name or f"{rnn.op_type}_{list(model.graph.node).index(rnn)}", op=rnn.op_type)
    if len(dims) < 2 or (dims[0].HasField("dim_value") and dims[0].dim_value == 1):
        return inp.name  # a sequence of one step reads the same either way
    if len(dims) + gained == 2:
        raise ModelError(f"input '{inp.name}' is an unbatched sequence {_dims_text(dims)} (time-major, no batch "
                         "axis), read by a recurrent layer; re-export the model with a batch dimension, e.g. "
                         "batch_first=True and an input of shape [1, sequence, features]", **where)
    if not dims[0].HasField("dim_value") and not dynamic_length_ok:
        example = ", ".join(["<length>"] + [str(d.dim_value) if d.HasField("dim_value") else "1" for d in dims[1:]])
        raise ModelError(f"input '{inp.name}' {_dims_text(dims)} is a time-major sequence (dim 0, read by a "
                         f"recurrent layer of layout 0) of dynamic length; pin it in the config: input_shape: "
                         f"{{{inp.name}: [{example}]}}", **where)
    if dims[1].HasField("dim_value") and dims[1].dim_value != 1:
        raise ModelError(f"input '{inp.name}' {_dims_text(dims)} is a time-major sequence whose batch (dim 1) is "
                         f"{dims[1].dim_value}; qnnc compiles single-sample inference: re-export with batch 1",
                         **where)
    new = NewTensors()
    new.names = defined_names(model.graph) | {o.name for o in model.graph.output}
    seq = new.name(inp.name + "_time_major")
    for n in model.graph.node:
        for i, name in enumerate(n.input):
            if name == inp.name:
                n.input[i] = seq
    perm = [1, 0] + list(range(2, len(dims)))
    model.graph.node.insert(0, helper.make_node("Transpose", [inp.name], [seq], perm=perm,
                                                name=new.name(inp.name + "_to_time_major")))
    first, second = onnx.TensorShapeProto.Dimension(), onnx.TensorShapeProto.Dimension()
    first.CopyFrom(dims[1])  # the batch: 1, or a name a dynamic batch has
    second.CopyFrom(dims[0])
    dims[0].CopyFrom(first)
    dims[1].CopyFrom(second)
    del model.graph.value_info[:]
    return inp.name


def _dims_text(dims) -> str:
    return "[" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                           for d in dims) + "]"
