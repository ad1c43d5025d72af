"""Loops over token ids unrolled before the ids are looked at (ONNX -> ONNX).

PyTorch's ``nn.EmbeddingBag`` exported without dynamo is a Loop over the bags: each step slices
the flattened ids between two offsets, looks the slice up in the table and reduces it (mean, sum
or max). (Dynamo looks all the ids up first and loops over the rows: no ids in the loop, which
expand_composites unrolls.) Token ids may be read only as the rows of constant tables (index_inputs.py), and a
Loop's body hides its reads. With static input shapes the bag offsets and the trip count are
shape arithmetic, so such a loop is unrolled here, on the model with that arithmetic folded
(onnx_fold.py), as expand_composites would unroll it later (unroll_loops.py): each step's Slice
then has constant bounds, and index_picks.py moves it after the lookup. A loop that cannot be
unrolled this early (a dynamic shape, a body with subgraphs) is left as it was, for the
importer to name what stops it. The shapes folded are the model's with the config's pins
(``input_shape``) and a dynamic batch dim as 1, as the importer takes them.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import onnx

from ..errors import ModelError
from .decompose import add_tied_ranges
from .index_inputs import InputReads
from .index_wraps import id_input, id_starts
from .onnx_fold import fold_or_none
from .unroll_loops import has_loops, unroll_loops


def _first_loop(reads: InputReads, start: str) -> Optional[onnx.NodeProto]:
    """The first top-level Loop reading, in its inputs or its body, the ids ``start`` (through
    views and integer Casts; not what is computed from them, as a lookup's rows)."""
    return next((n for _, n in reads.walk(start, reads.passes_ids) if n.op_type == "Loop"), None)


def looped_ids(model: onnx.ModelProto) -> Dict[str, onnx.NodeProto]:
    """{graph input holding token ids: the first Loop that reads them} (the ids as
    index_wraps.id_starts finds them: the input, or its Cast to an integer type)."""
    reads = InputReads(model)
    found = {}
    for start in id_starts(model, reads):
        loop = _first_loop(reads, start)
        if loop is not None:
            found[id_input(reads, start)] = loop
    return found


def loop_refusal(model: onnx.ModelProto, name: str) -> Optional[str]:
    """Why the Loop reading integer input ``name`` keeps it from being token ids, in words; None
    when no Loop reads it."""
    loop = looped_ids(model).get(name)
    if loop is None:
        return None
    what = f"the Loop '{loop.name}'" if loop.name else "a Loop"
    return (f"{what} reads it in its body, which qnnc unrolls (PyTorch's EmbeddingBag: a loop over the bags) "
            "only when the trip count and each step's slice of the ids follow from static input shapes and "
            "constants: pin dynamic dims with input_shape, and make the bags' offsets a constant, not a model input")


def _pinned(model: onnx.ModelProto, pins: Dict[str, List[int]]) -> Optional[onnx.ModelProto]:
    """A copy of ``model`` whose inputs' dynamic dims take the config's pins (a model's [N] input
    may be pinned [1, N], as the importer reads it) and whose dynamic dim 0 of rank >= 2 is 1 (the
    batch qnnc compiles); dims the model fixes stay (the importer checks the pins against them).
    None where a pin asks for a batch other than 1 (the importer says why that cannot be)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for inp in m.graph.input:
        if not inp.type.HasField("tensor_type") or not inp.type.tensor_type.HasField("shape"):
            continue
        dims = inp.type.tensor_type.shape.dim
        values: List[Optional[int]] = [None] * len(dims)
        pin = [int(v) for v in pins[inp.name]] if inp.name in pins else None
        if pin is not None and len(dims) == 1 and len(pin) == 2 and pin[0] == 1:
            pin = pin[1:]
        if pin is not None and len(pin) == len(dims):
            if len(dims) >= 2 and pin[0] != 1:
                return None
            values = list(pin)
        elif len(dims) >= 2:
            values[0] = 1
        for d, v in zip(dims, values):
            if v is not None and not d.HasField("dim_value"):
                d.Clear()
                d.dim_value = v
    return m


def unroll_id_loops(model: onnx.ModelProto, opset: int, path: str,
                    pins: Optional[Dict[str, List[int]]] = None) -> onnx.ModelProto:
    """``model`` with its Loops unrolled where all unroll (see the module docstring; the caller
    knows one reads token ids: :func:`looped_ids`); else ``model`` itself. ``pins``: the config's
    input_shape."""
    pinned = _pinned(model, pins or {})
    folded = None if pinned is None else fold_or_none(pinned, opset)
    if folded is None:
        return model
    try:
        unrolled, ties = unroll_loops(folded, opset, path)
    except ModelError:
        return model
    # the steps' offsets (Gathers of the folded bounds) become constants for index_picks.py
    result = fold_or_none(unrolled, opset)
    if result is None or has_loops(result):
        return model
    if ties:
        add_tied_ranges(result, ties)
    return result
