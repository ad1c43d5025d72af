"""Integer value inputs: an attention mask (or another small integer) the model casts to float.

A bool mask input (``src_key_padding_mask`` given as a model input) is one too when it is read,
through views, Nots and Casts to bool, only as a Where's condition or by a Cast to float: it
becomes a float 0 / 1, each Not ``1 - x``, each condition a comparison with 0.5.

A token model exported with ``input_ids`` and ``attention_mask`` reads the mask as a value: PyTorch
writes ``(1.0 - mask[:, None, :].float()) * -10000`` (Cast to float after views) or
``mask == 0`` (a comparison with a constant, then a Where / Cast). Such an input, int64 / int32 /
int16 / int8, read on every path (through views: Reshape, Unsqueeze, Squeeze, Flatten, Identity,
Transpose, Expand) only by ``Cast`` to float or by a comparison with a constant, is a *value
input*: the importer makes it a float input holding whole numbers (the Casts to float become
Identity, the comparisons' constants float). The pipeline fixes its range to [-128, 127], which
gives the int8 quantization scale 1 and zero point 0: the generated API takes the values
themselves as ``int8_t`` (a mask's 0 / 1 exactly). Values outside -128..127 are clamped.
Without calibration data it gets random 0 / 1 values (a mask).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .index_inputs import InputReads, index_inputs
from .onnx_names import NewTensors, defined_names

VALUE_TYPES = (onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT16, onnx.TensorProto.INT8,
               onnx.TensorProto.BOOL)
RANGE = (-128.0, 127.0)  # int8 scale 1, zero point 0: the value itself
_VIEWS = frozenset({"Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Transpose", "Expand"})
_COMPARISONS = frozenset({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})


def _ends(reads: InputReads, name: str, boolean: bool = False):
    """(Casts to float, comparisons, bool reads, tensors on the way) if every path from ``name``
    ends at a Cast to float or a comparison with a constant (``boolean``: also a Where's condition
    or a Not), through views; else None."""
    found = _walk(reads, name, boolean)
    return found if isinstance(found, tuple) else None


def _walk(reads: InputReads, name: str, boolean: bool = False):
    """:func:`_ends`'s tuple, or the first reader that is none of those (None: no reader)."""
    casts, comparisons, bools, path = [], [], [], [name]

    def flips(n: onnx.NodeProto) -> bool:  # a bool mask's Not (1 - x) or Cast to bool (the value itself)
        return boolean and (n.op_type == "Not" or (n.op_type == "Cast" and _to(n) == onnx.TensorProto.BOOL))

    def goes_on(n: onnx.NodeProto, t: str) -> bool:  # the value reaches the output: walk on
        on = (n.op_type in _VIEWS and n.input[0] == t) or flips(n)
        if on:
            path.extend(o for o in n.output if o)
        return on

    for t, n in reads.walk(name, goes_on):
        if n.op_type == "Cast" and _to(n) == onnx.TensorProto.FLOAT:
            casts.append(n)
        elif boolean and n.op_type == "Where" and n.input[0] == t and t not in n.input[1:]:
            bools.append(n)  # a condition: Greater(x, 0.5)
        elif flips(n):
            bools.append(n)
        elif n.op_type in _COMPARISONS and len(n.input) == 2 and t in n.input:
            other = n.input[1] if n.input[0] == t else n.input[0]
            if other == t or reads.source(other) is None:
                return n
            comparisons.append(n)
        elif n.op_type not in _VIEWS or n.input[0] != t:
            return n
    return (casts, comparisons, bools, path) if casts or comparisons or bools else None


def _to(n: onnx.NodeProto):
    return next((a.i for a in n.attribute if a.name == "to"), None)


def value_refusal(model: onnx.ModelProto, name: str) -> str:
    """Why integer input ``name`` is no value input, in words (the importer's error names the reader)."""
    inp = next((i for i in model.graph.input if i.name == name), None)
    found = _walk(InputReads(model), name, _is_bool(inp))
    if isinstance(found, onnx.NodeProto):
        what = f"{found.op_type} '{found.name}'" if found.name else found.op_type
        return f"{what} reads it"
    return "it is not read as indices or as a value"


def value_input_names(model: onnx.ModelProto, ids: Optional[Dict[str, int]] = None,
                      reads: Optional[InputReads] = None) -> List[str]:
    """The value inputs of ``model`` (see the module docstring), in input order; ``ids``: its
    index inputs and ``reads`` its InputReads, where the caller has them."""
    inits = {i.name for i in model.graph.initializer}
    reads = InputReads(model) if reads is None else reads
    ids = index_inputs(model, reads) if ids is None else ids
    return [i.name for i in model.graph.input
            if i.name not in inits and i.name not in ids and i.type.HasField("tensor_type")
            and i.type.tensor_type.elem_type in VALUE_TYPES and _ends(reads, i.name, _is_bool(i)) is not None]


def _is_bool(inp) -> bool:
    return inp is not None and inp.type.tensor_type.elem_type == onnx.TensorProto.BOOL


def bool_input_names(model: onnx.ModelProto) -> List[str]:
    """The BOOL graph inputs (before :func:`float_value_inputs`: their values are fed as 0 / 1)."""
    return [i.name for i in model.graph.input if _is_bool(i)]


def float_value_inputs(model: onnx.ModelProto, ids: Optional[Dict[str, int]] = None) -> List[str]:
    """Rewrite ``model`` in place so each value input is a float input: its Casts to float become
    Identity, the constants it is compared with float copies, the tensors on the way float.
    Returns the names of those inputs (``ids``: the index inputs, where the caller has them)."""
    reads = InputReads(model)
    names = value_input_names(model, ids, reads)
    if not names:
        return names
    new = NewTensors()
    new.names = defined_names(model.graph) | {o.name for o in model.graph.output}
    on_path = set()
    half = None
    for name in names:
        inp = next(i for i in model.graph.input if i.name == name)
        casts, comparisons, bools, path = _ends(reads, name, _is_bool(inp))
        on_path.update(path)
        for n in bools:  # a bool mask as float 1 / 0: a condition is a comparison with 0.5, Not is 1 - x
            if half is None:
                half, one = new.name(name + "_half"), new.name(name + "_one")
                model.graph.initializer.extend([numpy_helper.from_array(np.array(0.5, np.float32), half),
                                                numpy_helper.from_array(np.array(1.0, np.float32), one)])
            if n.op_type == "Not":
                n.op_type = "Sub"
                n.input[:] = [one, n.input[0]]
            elif n.op_type == "Cast":
                n.op_type = "Identity"
                del n.attribute[:]
            else:
                cond = new.name(n.input[0] + "_set")
                model.graph.node.insert(list(model.graph.node).index(n), onnx.helper.make_node(
                    "Greater", [n.input[0], half], [cond], name=new.name(cond + "_node")))
                n.input[0] = cond
        for n in casts:
            n.op_type = "Identity"
            del n.attribute[:]
        for n in comparisons:
            k = 1 if n.input[0] in path else 0
            proto, to_types = reads.source(n.input[k])
            value = numpy_helper.to_array(proto)
            for to in to_types:  # Cast(0.5 -> int64) is 0 (ONNX's float -> int Cast truncates, as astype)
                value = value.astype(helper.tensor_dtype_to_np_dtype(to))
            const = new.name(n.input[k] + "_float")
            model.graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), const))
            n.input[k] = const
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        if vi.name in on_path and vi.type.HasField("tensor_type"):
            vi.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return names


def integer_values(values: np.ndarray, dtype, boolean: bool = False) -> np.ndarray:
    """Values as the float model takes them: rounded half away from zero and clamped to
    -128..127 (as their int8 quantization; ``boolean``: any value but 0 is 1), of type ``dtype``."""
    v = np.asarray(values, np.float64)
    if boolean:
        return (v != 0).astype(dtype)
    return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), RANGE[0], RANGE[1]).astype(dtype)


def random_values(shape, seed: int) -> np.ndarray:
    """Random 0 / 1 values (a mask) as float32, for calibration without data."""
    return np.random.default_rng(seed).integers(0, 2, shape).astype(np.float32)

