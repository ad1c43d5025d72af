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

from typing import Optional

import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError

# Ops through which a tensor's axis 0 stays the axis 0 of their output (one value per element, or
# per-channel constants on other axes): time_major's walk follows them to the recurrent layer.
_AXIS0_KEPT = frozenset({"Identity", "Cast", "Dropout", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Clip", "Neg",
                         "Abs", "Add", "Sub", "Mul", "Div"})
_RECURRENT = ("LSTM", "GRU", "RNN")
# set on a rewritten input: error messages about its dims then say which layout they mean
DOC = "time-major sequence input, taken as [batch, sequence, features]"


def time_major(model: onnx.ModelProto, name: str) -> Optional[onnx.NodeProto]:
    """The LSTM / GRU / RNN of layout 0 whose ``X`` tensor ``name`` reaches through per-element ops
    and Unsqueezes that keep axis 0 (its axis 0 is then a sequence), or None."""
    consts = {i.name: i for i in model.graph.initializer}
    consts.update({n.output[0]: a.t for n in model.graph.node if n.op_type == "Constant" and n.output
                   for a in n.attribute if a.name == "value"})
    frontier, seen = [name], {name}
    while frontier:
        t = frontier.pop()
        for n in model.graph.node:
            if t not in n.input:
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            if n.op_type in _RECURRENT:
                if n.input[0] == t and attrs.get("layout", 0) == 0:
                    return n
                continue
            if n.op_type == "Unsqueeze":
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
                    frontier.append(o)
    return None


def batch_first_sequence(model: onnx.ModelProto, path: str) -> Optional[str]:
    """Rewrite a time-major first input (see the module docstring) in place; returns its name, or
    None when the first input is not one. An unbatched ``[sequence, features]`` input is refused:
    it has no batch axis to put first."""
    init_names = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in init_names]
    if not real or not real[0].type.HasField("tensor_type") or not real[0].type.tensor_type.HasField("shape"):
        return None
    inp = real[0]
    dims = inp.type.tensor_type.shape.dim
    if len(dims) < 2 or (dims[0].HasField("dim_value") and dims[0].dim_value == 1):
        return None  # a sequence of one step reads the same either way
    rnn = time_major(model, inp.name)
    if rnn is None:
        return None
    if len(dims) == 2:
        raise ModelError(f"input '{inp.name}' is an unbatched sequence {_dims_text(dims)} (time-major, no batch "
                         "axis), read by a recurrent layer; re-export the model with a batch dimension, e.g. "
                         "batch_first=True and an input of shape [1, sequence, features]", file=path,
                         node=rnn.name or None, op=rnn.op_type)
    taken = ({o for n in model.graph.node for o in n.output} | init_names |
             {i.name for i in model.graph.input} | {o.name for o in model.graph.output})
    seq = inp.name + "_time_major"
    while seq in taken:
        seq += "_"
    for n in model.graph.node:
        for i, name in enumerate(n.input):
            if name == inp.name:
                n.input[i] = seq
    perm = [1, 0] + list(range(2, len(dims)))
    model.graph.node.insert(0, helper.make_node("Transpose", [inp.name], [seq], perm=perm,
                                                name=inp.name + "_to_time_major"))
    swapped = [onnx.TensorShapeProto.Dimension(), onnx.TensorShapeProto.Dimension()]
    swapped[0].CopyFrom(dims[1])
    swapped[1].CopyFrom(dims[0])
    dims[0].CopyFrom(swapped[0])
    dims[1].CopyFrom(swapped[1])
    inp.doc_string = DOC
    del model.graph.value_info[:]
    return inp.name


def _dims_text(dims) -> str:
    return "[" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                           for d in dims) + "]"
