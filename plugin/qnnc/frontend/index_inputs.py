"""Index graph inputs: token ids an embedding table is looked up with.

A text or token model (PyTorch's ``nn.Embedding``, Keras' ``Embedding`` through tf2onnx) takes
int64 / int32 ids and reads them only as the indices of ``Gather`` on axis 0 of a constant table;
a Keras model declares the ids float and casts them to an integer type first. Such an input is an
*index input*. The ids may pass through views on the way (a Reshape, Unsqueeze, Squeeze, Flatten,
a Transpose that moves only axes of size 1: qnnc's own rewrites of rank-1 and time-major inputs)
and may be read by ``Shape`` (position ids built from the sequence length fold away). The table
may be an initializer, a Constant, or an Identity / Cast of one.

The importer keeps the input's type for the ONNX checks and shape inference; qnnc's graph has no
element types, so the Casts along the way become Identity there, and passes/index_views.py lets
each Gather read the input itself. The lowering gives it int16 storage of scale 1 and zero point
0 (the id itself), and each Gather becomes an ``embedding`` op that copies one quantized table
row per id (quantize/rules_embedding.py). The generated API takes the ids as ``int16_t``; an id
below 0 counts from the end of the table (as ONNX's Gather), one outside the table is clamped
to its first or last row (ONNX leaves it undefined; the kernel must not read outside the table).

Detection runs on the model as the user gave it (after opset conversion and Q/DQ removal, with
the index wraps dropped, index_wraps.py, picks of columns moved after their lookups,
index_picks.py, and comparisons of the ids with a constant and one-hot encodings of them read as
table lookups, index_masks.py and index_one_hot.py), in the importer and in the float runner alike. An integer input read as a value only (an attention mask
cast to float or compared with a constant) is a value input (value_inputs.py); one read any other
way is refused by the importer, naming the reader.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir import ID_VIEW_OPS
from .onnx_names import read_names, subgraphs

# ONNX Gather's index types (the unsigned ones are no Gather indices)
INDEX_TYPES = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
# ids are int16 in the arena and the API: a table of more rows cannot be indexed by them
MAX_ROWS = 32768


def _attr(n: onnx.NodeProto, name: str, default=None):
    return next((helper.get_attribute_value(a) for a in n.attribute if a.name == name), default)


class InputReads:
    """Readers, producers and constants of a graph, for the walks over an input's reads (here and in
    value_inputs.py / index_wraps.py)."""

    def __init__(self, model: onnx.ModelProto):
        g = model.graph
        self.constants: Dict[str, onnx.TensorProto] = {i.name: i for i in g.initializer}
        self.producer: Dict[str, onnx.NodeProto] = {}
        self.readers: Dict[str, List[onnx.NodeProto]] = {}
        for n in g.node:
            for o in n.output:
                self.producer[o] = n
            # an If / Loop body reads outer names without listing them: the node reads them
            inner = set().union(*(read_names(sub) for sub in subgraphs(n)))
            for i in dict.fromkeys(list(n.input) + sorted(inner)):
                self.readers.setdefault(i, []).append(n)
            if n.op_type == "Constant" and n.output:
                value = _attr(n, "value")
                if value is not None:
                    self.constants[n.output[0]] = value
        self.value_shapes = {vi.name: [d.dim_value if d.HasField("dim_value") else 0
                                       for d in vi.type.tensor_type.shape.dim]
                             for vi in list(g.input) + list(g.value_info) + list(g.output)
                             if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")}

    def source(self, name: str) -> Optional[Tuple[onnx.TensorProto, List[int]]]:
        """(the initializer or Constant value ``name`` is, through Identity / Cast nodes, the Casts'
        target types in the order they apply), or None if ``name`` is computed otherwise."""
        casts: List[int] = []
        while name not in self.constants and name in self.producer and len(casts) < 16:
            n = self.producer[name]
            if n.op_type not in ("Identity", "Cast") or not n.input:
                return None
            if n.op_type == "Cast":
                casts.append(int(_attr(n, "to")))
            name = n.input[0]
        return (self.constants[name], casts[::-1]) if name in self.constants else None

    def value(self, name: str) -> Optional[np.ndarray]:
        """The value of the initializer or Constant ``name`` (through Identity nodes, no Cast), or None."""
        found = self.source(name)
        return None if found is None or found[1] else numpy_helper.to_array(found[0])

    def table_shape(self, name: str) -> Optional[List[int]]:
        """Shape of a constant table: an initializer or Constant, through Identity / Cast nodes."""
        found = self.source(name)
        return None if found is None else list(found[0].dims)

    def walk(self, start: str, follow: Callable[[onnx.NodeProto, str], bool]
             ) -> Iterator[Tuple[str, onnx.NodeProto]]:
        """(tensor, reader) for every reader of ``start`` and, where ``follow(reader, tensor)``, of
        the reader's outputs in turn (each tensor once)."""
        frontier, seen = [start], {start}
        while frontier:
            t = frontier.pop()
            for n in self.readers.get(t, []):
                yield t, n
                if follow(n, t):
                    for o in n.output:
                        if o and o not in seen:
                            seen.add(o)
                            frontier.append(o)

    def _memory_kept(self, n: onnx.NodeProto) -> bool:
        """A Transpose that moves only axes of size 1 (shapes known), or another view op."""
        if n.op_type != "Transpose":
            return True
        shape = self.value_shapes.get(n.input[0])
        perm = _attr(n, "perm")
        if not shape or perm is None or any(d <= 0 for d in shape):
            return False
        moved = [a for a in perm if shape[a] != 1]
        return moved == sorted(moved)

    def passes_ids(self, n: onnx.NodeProto, t: str) -> bool:
        """Whether ids reach ``n``'s output unchanged: a Cast to int32/int64 or a memory-order view."""
        return ((n.op_type == "Cast" and _attr(n, "to") in INDEX_TYPES)
                or (n.op_type in ID_VIEW_OPS and n.input[0] == t and self._memory_kept(n)))

    def lookup_rows(self, n: onnx.NodeProto, t: str) -> Optional[int]:
        """Rows of the constant table ``n`` looks up with the ids ``t`` (a Gather on axis 0 with ``t``
        as its indices), or None when ``n`` is no such lookup."""
        if n.op_type != "Gather" or list(n.input[1:]) != [t] or n.input[0] == t:
            return None
        table = self.table_shape(n.input[0])
        if table is None or len(table) < 2 or int(_attr(n, "axis", 0)) not in (0, -len(table)):
            return None
        return int(table[0])

    def table_rows(self, ids: str) -> List[int]:
        """Rows of each table the ids ``ids`` are looked up in (through views and Casts)."""
        found = (self.lookup_rows(n, t) for t, n in self.walk(ids, self.passes_ids))
        return [r for r in found if r is not None]

    def reads(self, ids: str) -> Tuple[Optional[int], Optional[onnx.NodeProto]]:
        """(rows of the largest table, None) if every path from ``ids`` ends as the indices of a
        Gather on axis 0 of a constant table (through views and Casts to int32/int64, Shape
        readers allowed); else (None, the first reader that is none of these)."""
        rows: List[int] = []
        for t, n in self.walk(ids, self.passes_ids):
            if n.op_type == "Shape":
                continue
            if n.op_type == "Gather" and list(n.input[1:]) == [t] and n.input[0] != t:
                found = self.lookup_rows(n, t)
                if found is None:
                    return None, n
                rows.append(found)
            elif not self.passes_ids(n, t):
                return None, n
        return (max(rows), None) if rows else (None, None)


def index_inputs(model: onnx.ModelProto, walk: Optional[InputReads] = None) -> Dict[str, int]:
    """{graph input: rows of the largest table it indexes} for the index inputs of ``model``: an
    int64 / int32 input all of whose reads end as Gather indices (see the module docstring), or a
    float input read only by Casts to int32 / int64 that are (tf2onnx's Keras Embedding).
    ``walk``: the model's InputReads, where the caller has it."""
    inits = {i.name for i in model.graph.initializer}
    walk = InputReads(model) if walk is None else walk
    found: Dict[str, int] = {}
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        kind = inp.type.tensor_type.elem_type
        readers = walk.readers.get(inp.name, [])
        if kind == onnx.TensorProto.FLOAT and not (
                readers and all(n.op_type == "Cast" and _attr(n, "to") in INDEX_TYPES for n in readers)):
            continue
        if kind not in INDEX_TYPES + (onnx.TensorProto.FLOAT,):
            continue
        rows, _ = walk.reads(inp.name)
        if rows is not None:
            found[inp.name] = rows
    return found


def refusal_reason(model: onnx.ModelProto, name: str) -> str:
    """Why integer input ``name`` is not an index input, in words (for the importer's error)."""
    inp = next((i for i in model.graph.input if i.name == name), None)
    if inp is not None and inp.type.tensor_type.elem_type not in INDEX_TYPES:
        return "ONNX Gather takes int32 or int64 indices"
    _, reader = InputReads(model).reads(name)
    if reader is None:
        return "it is not read as the indices of a Gather"
    what = f"{reader.op_type} '{reader.name}'" if reader.name else reader.op_type
    if reader.op_type == "Gather":
        return f"{what} reads it, but not as indices on axis 0 of a constant table of rank >= 2"
    return f"{what} reads it"


def read_as_indices(model: onnx.ModelProto, name: str) -> bool:
    """Whether a Gather reads ``name`` (through views and Casts) as its indices: the input was
    meant as token ids, so a refusal explains the index rule."""
    def follow(n: onnx.NodeProto, _t: str) -> bool:
        return n.op_type in ID_VIEW_OPS or n.op_type == "Cast"
    return any(n.op_type == "Gather" and list(n.input[1:]) == [t] for t, n in InputReads(model).walk(name, follow))


def check_rows(found: Dict[str, int], path: str) -> None:
    """Refuse a table of more rows than int16 ids reach."""
    from ..errors import ModelError
    for name, rows in found.items():
        if rows > MAX_ROWS:
            raise ModelError(f"input '{name}' holds the ids of an embedding table of {rows} rows; qnnc takes "
                             f"ids as int16, so a table has at most {MAX_ROWS} rows", file=path)


def drop_index_casts(model: onnx.ModelProto, names: Dict[str, int]) -> None:
    """After shape inference: the Casts on the way from an index input to its Gathers become
    Identity (qnnc's graph has no element types; the ids stay whole numbers)."""
    reads = InputReads(model)

    def on_the_way(n: onnx.NodeProto, _t: str) -> bool:
        return n.op_type not in ("Gather", "Shape")
    for name in names:
        for _, n in reads.walk(name, on_the_way):
            if n.op_type == "Cast":
                n.op_type = "Identity"
                del n.attribute[:]


def integer_ids(values: np.ndarray, rows: int, dtype) -> np.ndarray:
    """Ids as the float model takes them: rounded half away from zero (as the int16 input is
    quantized), within [-rows, rows - 1] (the kernel's clamp for the largest table; the smaller
    tables' lookups clamp in the float model, index_clamps.py), of the
    input's type."""
    v = np.asarray(values, np.float64)
    return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -rows, rows - 1).astype(dtype)


def random_ids(shape, rows: int, seed: int) -> np.ndarray:
    """Uniform ids 0..rows-1 as float32 (calibration without data)."""
    return np.random.default_rng(seed).integers(0, rows, shape).astype(np.float32)

