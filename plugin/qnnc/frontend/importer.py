"""Stage 1 - import: ONNX file -> :class:`qnnc.ir.Graph` with static shapes and numpy constants."""
from __future__ import annotations

import functools
import json
import os
import re
from typing import Collection, Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from ..errors import ModelError
from ..ir import Graph, Node, Tensor
from .dynamic_quant import dynamic_quantization_as_float
from .decompose import (TIED_RANGES_KEY, expand_composites, expand_legacy, expand_tf2onnx_leftovers,
                        restore_legacy_fills)
from .float32 import float32_model
from .node_order import sort_nodes
from .old_broadcasts import numpy_broadcasts
from .newer_opsets import expand_newer_ops, inline_function_ops, relabel_to, stamped_up
from .onnx_fold import fold_onnx_constants
from .qdq import is_prequantized, strip_quantization
from .samples_apart import samples_mixed_once
from .sequence_input import batch_first_sequence
from .id_rewrites import rewrite_id_reads
from .index_loops import loop_refusal
from .index_inputs import check_rows, drop_index_casts, index_inputs, read_as_indices, refusal_reason
from .uint8_inputs import float_uint8_inputs
from .value_inputs import float_value_inputs, value_refusal
from .unbatched_inputs import batch_unbatched_inputs

MIN_OPSET = 11
MAX_OPSET = 21
# Models outside MIN_OPSET-MAX_OPSET are converted with onnx.version_converter first: older ones
# (mnist-8's opset 8, onnx2c's opset 9 ...) to OLD_OPSET_TARGET, newer ones down to MAX_OPSET.
OLD_OPSET_TARGET = 13
# Budgets: qnnc targets microcontrollers, so anything far beyond what one could hold is refused
# before any allocation happens (and before onnxruntime is asked to run it).
MAX_TENSOR_ELEMENTS = 1 << 24      # one activation or weight tensor (16 Mi elements)
MAX_WEIGHT_ELEMENTS = 1 << 26      # all constants together (64 Mi elements)
MAX_MODEL_BYTES = 512 << 20

_ONE_LINE = re.compile(r"\s+")
_NODE_IN_MESSAGE = (re.compile(r"[Nn]ame: ?(\S*) OpType: ?(\w+)"),
                    re.compile(r"\(op_type: ?(\w+), node name: ?([^)]*)\):? ?"))


def _read_model(path: str) -> onnx.ModelProto:
    try:
        size = os.path.getsize(path)
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"the file is {size} bytes; qnnc accepts models up to {MAX_MODEL_BYTES} bytes "
                             "(no microcontroller holds more)", file=path)
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ModelError(f"cannot read the model: {e.strerror or e}", file=path) from None
    if not data:
        raise ModelError("the file is empty; expected an ONNX model (protobuf)", file=path)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError / RuntimeWarning subclasses
        raise ModelError(f"not a valid ONNX file ({type(e).__name__}: the protobuf does not parse); "
                         "was it truncated or is it another format?", file=path) from None
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise ModelError("the file parses but holds no graph with nodes; expected an ONNX model", file=path)
    _check_names_are_text(model, path)
    return model


def _check_names_are_text(model: onnx.ModelProto, path: str) -> None:
    """Protobuf hands back invalid UTF-8 in string fields as bytes: refuse such names up front."""
    g = model.graph
    for i, n in enumerate(g.node):
        for value in [n.name, n.op_type, n.domain, *n.input, *n.output]:
            if not isinstance(value, str):
                raise ModelError(f"node #{i} has a name, op type or tensor name that is not valid UTF-8 text "
                                 f"({value[:40]!r}); the file is corrupt", file=path)
    for vi in list(g.input) + list(g.output) + list(g.value_info) + list(g.initializer):
        if not isinstance(vi.name, str):
            raise ModelError(f"a graph input, output or initializer name is not valid UTF-8 text "
                             f"({vi.name[:40]!r}); the file is corrupt", file=path)


def _onnx_error(what: str, e: Exception, path: str) -> ModelError:
    """An onnx checker / shape inference failure as one line, naming the node when onnx does."""
    text = _ONE_LINE.sub(" ", str(e)).strip() or type(e).__name__
    text = text.replace("==> Context: ", "").replace(" Bad node spec for node.", "")
    node = op = None
    m = _NODE_IN_MESSAGE[0].search(text)
    if m:
        node, op = m.group(1), m.group(2)
    else:
        m = _NODE_IN_MESSAGE[1].search(text)
        if m:
            op, node = m.group(1), m.group(2)
    if m:
        text = text.replace(m.group(0), "").strip(" :")
    return ModelError(f"{what}: {text}", file=path, node=node or None, op=op)


def _dims_elements(dims, what: str, path: str, node: Optional[str] = None, op: Optional[str] = None) -> int:
    """Number of elements of ``dims``; refuses zero/negative dims and tensors beyond the budget."""
    n = 1
    for d in dims:
        if d <= 0:
            raise ModelError(f"{what} has shape {list(dims)}; zero or negative dims are not supported",
                             file=path, node=node, op=op)
        n *= d
        if n > MAX_TENSOR_ELEMENTS:
            raise ModelError(f"{what} has shape {list(dims)}, more than {MAX_TENSOR_ELEMENTS} elements; qnnc "
                             "compiles models for microcontrollers and refuses tensors this large",
                             file=path, node=node, op=op)
    return n


def _check_initializers(model: onnx.ModelProto, path: str) -> None:
    """Unique names, sane dims and a total size within the budget (before anything is decoded)."""
    seen = set()
    total = 0
    for init in model.graph.initializer:
        if init.name in seen:
            raise ModelError(f"initializer '{init.name}' is defined twice (duplicate names); every tensor "
                             "needs a unique name", file=path)
        seen.add(init.name)
        dims = list(init.dims)
        if any(d < 0 for d in dims):
            raise ModelError(f"initializer '{init.name}' has shape {dims}; negative dims are invalid", file=path)
        if 0 not in dims:  # empty integer tensors (e.g. axes lists) are fine; empty weights fail later
            total += _dims_elements(dims, f"initializer '{init.name}'", path)
        if total > MAX_WEIGHT_ELEMENTS:
            raise ModelError(f"the initializers hold more than {MAX_WEIGHT_ELEMENTS} values; qnnc compiles "
                             "models for microcontrollers and refuses models this large", file=path)


def _node_label(n: onnx.NodeProto, idx: int) -> str:
    return n.name or f"{n.op_type}_{idx}"


def _check_graph_structure(model: onnx.ModelProto, path: str) -> None:
    """Duplicate tensor names, missing inputs and cycles, named precisely (before the ONNX checker)."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    defined: Dict[str, str] = {}
    for inp in g.input:
        if inp.name in defined:
            raise ModelError(f"graph input '{inp.name}' is listed twice (duplicate names)", file=path)
        defined[inp.name] = "graph input"
    for name in inits:
        defined.setdefault(name, "initializer")
    producer: Dict[str, int] = {}
    for idx, n in enumerate(g.node):
        for o in n.output:
            if not o:
                continue
            if o in producer or (o in defined and o not in inits):
                first = (f"node '{_node_label(g.node[producer[o]], producer[o])}'" if o in producer
                         else defined[o])
                raise ModelError(f"tensor '{o}' is already produced by {first} (duplicate names); every tensor "
                                 "needs exactly one producer", file=path, node=_node_label(n, idx), op=n.op_type)
            if o in inits:
                raise ModelError(f"tensor '{o}' is both an initializer and a node output (duplicate names)",
                                 file=path, node=_node_label(n, idx), op=n.op_type)
            producer[o] = idx
    for idx, n in enumerate(g.node):
        for i in n.input:
            if i and i not in defined and i not in producer:
                raise ModelError(f"input '{i}' is not a graph input, an initializer or the output of any node "
                                 "(missing initializer?)", file=path, node=_node_label(n, idx), op=n.op_type)
    cycle = _find_cycle(g, producer)
    if cycle:
        names = " -> ".join(f"'{_node_label(g.node[i], i)}'" for i in cycle)
        first = g.node[cycle[0]]
        raise ModelError(f"the graph has a cycle: {names} -> '{_node_label(first, cycle[0])}'; ONNX graphs must "
                         "be acyclic", file=path, node=_node_label(first, cycle[0]), op=first.op_type)


def _find_cycle(g: onnx.GraphProto, producer: Dict[str, int]) -> List[int]:
    """Indices of the nodes on one dependency cycle, or [] (iterative DFS)."""
    deps = [sorted({producer[i] for i in n.input if i in producer}) for n in g.node]
    state = [0] * len(deps)  # 0 new, 1 on stack, 2 done
    for start in range(len(deps)):
        if state[start]:
            continue
        stack = [(start, iter(deps[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state[nxt] == 1:
                return list(reversed(path[path.index(nxt):]))
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(deps[nxt])))
                path.append(nxt)
    return []


def _load_external_data(model: onnx.ModelProto, path: str) -> None:
    """Load external tensor data, refusing any location that resolves outside the model's folder."""
    base = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    uses_external = False
    for init in model.graph.initializer:
        if init.data_location != onnx.TensorProto.EXTERNAL:
            continue
        uses_external = True
        loc = next((e.value for e in init.external_data if e.key == "location"), "")
        target = os.path.realpath(os.path.join(base, loc))
        if not loc or os.path.isabs(loc) or not target.startswith(base + os.sep):
            raise ModelError(f"initializer '{init.name}' points to external data '{loc}' outside the "
                             "model's folder (or through a link leading outside); refused: external data must "
                             "sit beside the model", file=path)
        if not os.path.isfile(target):
            raise ModelError(f"initializer '{init.name}' needs external data file '{loc}', which is missing",
                             file=path)
    if uses_external:
        try:
            onnx.external_data_helper.load_external_data_for_model(model, base)
        except Exception as e:
            raise ModelError(f"cannot load external data: {_ONE_LINE.sub(' ', str(e)).strip()}",
                             file=path) from None


def _opset(model: onnx.ModelProto, path: str) -> int:
    version = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            version = imp.version
    if version is None:
        raise ModelError("the model imports no default ONNX operator set", file=path)
    return version


def _converter_reason(e: Exception) -> str:
    """The useful part of a version converter failure (it raises C++ assertion texts)."""
    text = _ONE_LINE.sub(" ", str(e)).strip() or type(e).__name__
    text = text.split(" failed: ", 1)[-1]
    m = re.search(r"Op '%s' has no registered schema; cannot convert it from version %lld to %lld\.(.*?)\d*$", text)
    if m:  # the C++ format string arrives unformatted, its arguments glued to its end
        text = f"operator {m.group(1)!r} has no ONNX schema any more (an experimental or removed op)"
    return text


def convert_opset(model: onnx.ModelProto, path: str):
    """(model, opset): the model itself if its opset is MIN_OPSET-MAX_OPSET, else converted. Every
    reader of the model starts here, so three more readings happen here too, in place: nodes
    written before what feeds them are sorted (node_order.py), the graph's -1 dims (what some exporters write for an open dim, which onnxruntime reads as dynamic) become
    open dims, and float16 / bfloat16 / float64 tensors float32 ones (float32.py)."""
    sort_nodes(model)
    _open_minus_one_dims(model)
    float32_model(model)
    model = expand_tf2onnx_leftovers(model, path)  # ops tf2onnx left unconverted (Keras 3's gelu)
    model = dynamic_quantization_as_float(model, path)  # onnxruntime's quantize_dynamic output
    version = _opset(model, path)
    model, version = _ops_after_declared(model, version)
    if MIN_OPSET <= version <= MAX_OPSET:
        return model, version
    newest = onnx.defs.onnx_opset_version()
    if version > newest:
        raise ModelError(f"the model uses opset {version}, newer than the installed onnx package knows (up to "
                         f"{newest}); qnnc reads opsets {MIN_OPSET}-{MAX_OPSET} and converts older or newer "
                         "ones it knows: re-export the model at an opset in that range", file=path)
    target = OLD_OPSET_TARGET if version < MIN_OPSET else MAX_OPSET
    if version > MAX_OPSET:
        # newer ops rewritten, then read as opset 21 where every op means the same there (the
        # converter lacks adapters for some type-only changes: newer_opsets.py)
        model = inline_function_ops(expand_newer_ops(model, path, target), version, target)
        relabelled = relabel_to(model, version, target)
        if relabelled is not None:
            return relabelled, target
    model = expand_legacy(model, path)  # removed experimental ops the converter has no schema for
    try:
        if version < 7:  # old broadcasts: stated the numpy way at opset 6 first (old_broadcasts.py)
            model = numpy_broadcasts(model if version == 6 else _convert_in_child(model, 6))
        converted = _convert_in_child(model, target)
        restore_legacy_fills(converted)
    except Exception as e:  # the converter raises RuntimeError / ConvertError with C++ texts
        raise ModelError(f"the model uses opset {version}; qnnc reads opsets {MIN_OPSET}-{MAX_OPSET} and "
                         f"onnx.version_converter could not convert it to opset {target}: "
                         f"{_converter_reason(e)}; re-export the model at an opset in {MIN_OPSET}-{MAX_OPSET}",
                         file=path) from None
    if version < 11:
        _fix_converted_resize(converted, path)
    # The converter may add initializers that are no graph inputs (Pad-2's pads become an input
    # of Pad-11), which IR versions below 4 forbid: the converted model is of the target's IR.
    default = [o for o in converted.opset_import if o.domain in ("", "ai.onnx")]  # (others: no IR table entry)
    converted.ir_version = max(converted.ir_version, onnx.helper.find_min_ir_version_for(default))
    return converted, target


def _ops_after_declared(model: onnx.ModelProto, version: int) -> Tuple[onnx.ModelProto, int]:
    """(model, opset) for a model holding default-domain ops newer than the opset it declares
    (tf2onnx writes a TFLite HARD_SWISH as HardSwish-14 into an opset-13 model, which onnxruntime
    refuses): stamped with the newest such op's opset when every other node means the same there
    (the ops keep their own kernels), else those ops inlined as their function bodies where those
    use ops of the declared opset; ops without one, or malformed, are left for
    :func:`_check_attribute_types` to name."""
    first = _first_opsets()
    newer = [n for n in model.graph.node if n.domain in ("", "ai.onnx") and first.get(n.op_type, 0) > version]
    if not newer or not all(_fits_schema(n, first[n.op_type]) for n in newer):
        return model, version  # (a malformed one: the checks name it)
    since = {n.op_type: first[n.op_type] for n in newer}
    stamped = stamped_up(model, version, since) if max(since.values()) <= MAX_OPSET else None
    if stamped is not None:
        return stamped, max(since.values())
    for since in sorted({first[n.op_type] for n in newer}):  # each op's body at the opset that brought it
        try:
            model = inline_function_ops(model, since, version, body_at_target=True)
        except Exception:  # noqa: BLE001 - onnx's inliner on a body it cannot bind: the checks name the op
            return model, version
    return model, version


def _fits_schema(n: onnx.NodeProto, opset: int) -> bool:
    """Whether node n has no more inputs / outputs than its op's schema at ``opset`` and only
    attributes it defines."""
    schema = onnx.defs.get_schema(n.op_type, opset, "")
    return (len(n.input) <= schema.max_input and len(n.output) <= schema.max_output
            and all(a.name in schema.attributes for a in n.attribute))


def _fix_converted_resize(model: onnx.ModelProto, path: str) -> None:
    """Resize-10 and Upsample-7/9 map coordinates asymmetrically and round nearest down (up when
    an axis shrinks); the converter leaves Resize-11's defaults (half_pixel, round_prefer_floor),
    which differ: state the old behaviour explicitly (rules_movement.py reads it)."""
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].type == onnx.AttributeProto.TENSOR:
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    for n in model.graph.node:
        if n.op_type != "Resize" or any(a.name == "coordinate_transformation_mode" for a in n.attribute):
            continue
        n.attribute.append(onnx.helper.make_attribute("coordinate_transformation_mode", "asymmetric"))
        mode = next((onnx.helper.get_attribute_value(a) for a in n.attribute if a.name == "mode"), b"nearest")
        scales = consts.get(n.input[2]) if len(n.input) > 2 else None
        if mode not in (b"nearest", "nearest") or scales is None:
            continue
        if np.all(scales >= 1) or np.all(scales <= 1):
            rounding = "floor" if np.all(scales >= 1) else "ceil"
            n.attribute.append(onnx.helper.make_attribute("nearest_mode", rounding))
        else:
            raise ModelError(f"{n.name or 'a Resize/Upsample node'}: nearest resize with scales {scales.tolist()} "
                             "(enlarging some axes, shrinking others) at opset < 11 rounds per axis in a way "
                             "opset 11 cannot state; re-export the model at opset 11 or newer", file=path)


_CONVERT_CHILD = (
    "import sys\n"
    "import onnx\n"
    "from onnx import version_converter\n"
    "m = onnx.load_from_string(sys.stdin.buffer.read())\n"
    "try:\n"
    "    out = version_converter.convert_version(m, int(sys.argv[1]))\n"
    "except Exception as e:\n"
    "    sys.stderr.write(str(e) or type(e).__name__)\n"
    "    sys.exit(3)\n"
    "sys.stdout.buffer.write(out.SerializeToString())\n"
)


def _convert_in_child(model: onnx.ModelProto, target: int) -> onnx.ModelProto:
    """``version_converter.convert_version`` in a child process: on malformed models onnx's C++
    converter can crash the process (seen: a segmentation fault), which must be a clear error."""
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-c", _CONVERT_CHILD, str(target)], input=model.SerializeToString(),
                         capture_output=True)
    if res.returncode == 3:
        raise RuntimeError(res.stderr.decode("utf-8", "replace"))
    if res.returncode != 0:
        raise RuntimeError(f"the converter crashed (exit {res.returncode}) on this model")
    return onnx.load_from_string(res.stdout)


def _pin_error(msg: str, name: str, pins, path: str, config_file: Optional[str]) -> ModelError:
    """An error about ``input_shape: {name: ...}``, located in the config when there is one."""
    if config_file:
        return ModelError(msg, file=config_file, key=f"input_shape.{name}",
                          line=getattr(pins, "lines", {}).get(name))
    return ModelError(msg, file=path)


# (op, input index) of a recurrent op's initial states: their dim 0 counts layers and directions
_STATE_INPUTS = {("LSTM", 5), ("LSTM", 6), ("LSTM", 7), ("GRU", 5), ("RNN", 5)}


def _state_sources(g: onnx.GraphProto) -> set:
    """The tensors a recurrent op's initial states are computed from by value (PyTorch slices a
    multi-layer LSTM's h0 [layers, batch, hidden] per layer; a Shape only reads dims)."""
    producer = {o: node for node in g.node for o in node.output}
    todo = [x for node in g.node for k, x in enumerate(node.input) if x and (node.op_type, k) in _STATE_INPUTS]
    seen = set()
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            p = producer.get(x)
            if p is not None and p.op_type not in ("Shape", "Size"):
                todo.extend(i for i in p.input if i)
    return seen


def _further_batch_inputs(model: onnx.ModelProto, n: int) -> List[str]:
    """Real inputs after the first of rank >= 2 and static dim 0 ``n`` that no recurrent initial
    state is computed from: candidates for the same batch."""
    inits = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in inits][1:]
    states = _state_sources(model.graph)
    return [i.name for i in real if i.type.HasField("tensor_type") and len(i.type.tensor_type.shape.dim) >= 2
            and i.type.tensor_type.shape.dim[0].HasField("dim_value")
            and i.type.tensor_type.shape.dim[0].dim_value == n and i.name not in states]


def _rebatch(model: onnx.ModelProto, names: List[str], n: int) -> None:
    """The inputs ``names`` and the graph outputs of dim 0 ``n`` get dim 0 1, in place."""
    for inp in model.graph.input:
        if inp.name in names:
            inp.type.tensor_type.shape.dim[0].dim_value = 1
    for o in model.graph.output:
        od = o.type.tensor_type.shape.dim
        if od and od[0].HasField("dim_value") and od[0].dim_value == n:
            od[0].dim_value = 1
    del model.graph.value_info[:]


def _further_inputs_batched(model: onnx.ModelProto, first: str, further: List[str], n: int, path: str) -> bool:
    """Whether ``further`` inputs are the first input's batch too: with all of them at batch 1 the
    shapes still infer, every output has batch 1, and onnxruntime's batched run equals the single
    samples' (samples_apart.py; a check that cannot run says no). A dim 0 equal to the batch by
    chance (a weight matrix given as an input) fails one of these, and only the first is rebatched."""
    trial = onnx.ModelProto()
    trial.CopyFrom(model)
    _rebatch(trial, [first] + further, n)
    try:
        inferred = shape_inference.infer_shapes(trial, check_type=True, strict_mode=True, data_prop=True)
    except Exception:
        return False
    for o in inferred.graph.output:
        od = o.type.tensor_type.shape.dim
        if not od or not od[0].HasField("dim_value") or od[0].dim_value != 1:
            return False
    return not samples_mixed_once(path, model, trial, [first] + further, unknown=True)


def single_sample(model: onnx.ModelProto, path: Optional[str]) -> Optional[Tuple[str, List[int]]]:
    """Make a first input with a static batch N > 1 (rank >= 2) batch 1, in place: a firmware runs
    one sample per call (PyTorch exports traced with a batch of examples, the ONNX backend test
    models). Further inputs of dim 0 N become batch 1 too when that keeps the model consistent and
    its samples apart (:func:`_further_inputs_batched`: a two-input model traced with a batch of
    example pairs). Graph outputs of batch N become batch 1 and the stale value_info goes. Returns
    (first input's name, its original shape), or None when nothing changed. The importer then checks
    that every output has batch 1, which fails for graphs that mix samples (a Reshape to a literal
    batch), and the float runner that the samples stay apart (samples_apart.py). ``path`` None:
    the first input alone (a model qnnc derived from the user's, whose file was checked)."""
    init_names = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in init_names]
    if not real or not real[0].type.HasField("tensor_type") or not real[0].type.tensor_type.HasField("shape"):
        return None
    dims = real[0].type.tensor_type.shape.dim
    if len(dims) < 2 or not dims[0].HasField("dim_value") or dims[0].dim_value <= 1:
        return None
    n, shape, first = dims[0].dim_value, [d.dim_value for d in dims], real[0].name
    further = _further_batch_inputs(model, n) if path is not None else []
    if further and not _further_inputs_batched(model, first, further, n, path):
        further = []
    _rebatch(model, [first] + further, n)
    return first, shape


def _integer_refusal(model: onnx.ModelProto, name: str) -> str:
    """The reader that keeps integer input ``name`` from being token ids (when a Gather reads it
    as indices) or a value input (otherwise), in words."""
    looped = loop_refusal(model, name)
    if looped is not None:
        return looped
    return refusal_reason(model, name) if read_as_indices(model, name) else value_refusal(model, name)


def _pin_inputs(model: onnx.ModelProto, pins: Dict[str, List[int]], path: str,
                config_file: Optional[str], ids: Collection[str] = ()) -> Optional[Tuple[str, List[int]]]:
    """Check every real input is a float32 tensor (or token ids: ``ids``, index_inputs.py) with a
    static, positive shape (after applying pins); returns what :func:`single_sample` changed."""
    # a time-major sequence input's dim 0 is no batch; its pin is in the layout the model declares
    sequence = batch_first_sequence(model, path, lambda inp: _apply_pin(inp, pins, path, config_file)
                                    if inp.name in pins else None)
    unbatched = set(batch_unbatched_inputs(model))
    rebatched = single_sample(model, path)
    init_names = {i.name for i in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in init_names]
    names = {i.name for i in real_inputs}
    for name in pins:
        if name not in names:
            raise _pin_error(f"input_shape names '{name}', but the model's inputs are {sorted(names)}",
                             name, pins, path, config_file)
    for inp in real_inputs:
        if not inp.type.HasField("tensor_type"):
            raise ModelError(f"input '{inp.name}' is not a tensor; expected a float32 tensor", file=path)
        tt = inp.type.tensor_type
        if tt.elem_type != onnx.TensorProto.FLOAT and inp.name not in ids:
            type_name = onnx.TensorProto.DataType.Name(tt.elem_type) if tt.elem_type in \
                onnx.TensorProto.DataType.values() else str(tt.elem_type)
            integer = tt.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT16,
                                       onnx.TensorProto.INT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32,
                                       onnx.TensorProto.UINT64, onnx.TensorProto.BOOL)
            fix = (f"an integer input is taken as token ids when it is read only as the indices of Gathers on "
                   f"axis 0 of constant tables (an Embedding), or as values (a mask) when it is only Cast to float "
                   f"or compared with constants, and {_integer_refusal(model, inp.name)}; export the model so, or "
                   "with float inputs" if integer
                   else "convert the model to float32")
            raise ModelError(f"input '{inp.name}' has element type {type_name}; expected a float32 (FLOAT) "
                             f"tensor ({fix})", file=path)
        if inp.name in pins and inp.name != sequence:
            _apply_pin(inp, pins, path, config_file, unbatched=inp.name in unbatched)
        if not tt.HasField("shape"):
            raise ModelError(f"input '{inp.name}' has no shape (unknown rank); pin it in the config, e.g. "
                             f"input_shape: {{{inp.name}: [1, ...]}}", file=path)
        dims = tt.shape.dim
        if len(dims) >= 2 and not dims[0].HasField("dim_value"):
            # A dynamic batch (tf2onnx's 'unk__N', PyTorch's dynamic_axes, a -1 some exporters
            # write: convert_opset opened it): qnnc compiles batch 1.
            dims[0].Clear()
            dims[0].dim_value = 1
        for i, d in enumerate(dims):
            if not d.HasField("dim_value"):
                label = d.dim_param or "?"
                if inp.name in unbatched:  # the model's [n], batched here: its dim 0
                    raise ModelError(f"input '{inp.name}' has a dynamic dim 0 ('{label}'); pin it in the config, "
                                     f"e.g. input_shape: {{{inp.name}: [<{label}>]}}", file=path)
                shape = ", ".join(str(e.dim_value) if e.HasField("dim_value") else f"<{e.dim_param or '?'}>"
                                  for e in dims)
                raise ModelError(f"input '{inp.name}' has a dynamic dim {i} ('{label}'); pin it in the config, "
                                 f"e.g. input_shape: {{{inp.name}: [{shape}]}} with a number for each <...>",
                                 file=path)
            if d.dim_value <= 0:
                raise ModelError(f"input '{inp.name}' dim {i} is {d.dim_value}; dims must be positive", file=path)
        _dims_elements([d.dim_value for d in dims], f"input '{inp.name}'", path)
        if dims[0].dim_value != 1 and inp is real_inputs[0]:  # further inputs may be states, e.g. [2, 1, 128]
            batch_error(inp.name, [d.dim_value for d in dims], path)
    return rebatched


def batch_error(name: str, shape: List[int], path: str) -> None:
    """Refuse an input whose dim 0 (the batch) is not 1, saying how to fix the model."""
    fix = (f"re-export the model with batch 1, or leave dim 0 dynamic and pin it: "
           f"input_shape: {{{name}: {[1] + shape[1:]}}}")
    if len(shape) >= 3 and shape[1] == 1:  # [20, 1, 12]: a time-major sequence this graph unrolls
        fix += (f"; if dim 0 is a sequence (time-major, batch in dim 1), re-export with the batch first, "
                f"input shape {[1, shape[0]] + shape[2:]} (PyTorch: batch_first=True)")
    raise ModelError(f"input '{name}' has shape {shape}: dim 0 is the batch and must be 1 (qnnc compiles "
                     f"single-sample inference, and this graph does not treat its samples one by one); {fix}",
                     file=path)


def _open_minus_one_dims(model: onnx.ModelProto) -> None:
    """Graph inputs', outputs' and value_info's dims of -1 become open (unset) dims (other negative
    dims stay, for the importer's 'dims must be positive')."""
    g = model.graph
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            for d in vi.type.tensor_type.shape.dim:
                if d.HasField("dim_value") and d.dim_value == -1:
                    d.Clear()


def _apply_pin(inp: onnx.ValueInfoProto, pins, path: str, config_file: Optional[str],
               unbatched: bool = False) -> None:
    """Overwrite the input's dims with the pinned shape (dims the model fixes must agree). An
    input the model declares as [N] (``unbatched``, now [1, N]) takes a pin of either rank."""
    tt = inp.type.tensor_type
    pin = [int(v) for v in pins[inp.name]]
    if unbatched and len(pin) == 1:
        pin = [1] + pin
    if not tt.HasField("shape"):
        tt.shape.dim.extend(onnx.TensorShapeProto.Dimension() for _ in pin)
    dims = tt.shape.dim
    if len(pin) != len(dims):
        raise _pin_error(f"input_shape for '{inp.name}' has {len(pin)} dims; the model's input has {len(dims)}",
                         inp.name, pins, path, config_file)
    for d, v in zip(dims, pin):
        if d.HasField("dim_value") and d.dim_value != v:
            raise _pin_error(f"input_shape for '{inp.name}' says {pin}, but the model fixes that dim to "
                             f"{d.dim_value}", inp.name, pins, path, config_file)
        d.Clear()
        d.dim_value = v


def _attrs(node: onnx.NodeProto) -> Dict[str, object]:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, list):
            v = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
        out[a.name] = v
    return out


def _shape_of(vi: onnx.ValueInfoProto):
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in vi.type.tensor_type.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _finite_float32(arr: np.ndarray, what: str, path: str, node: Optional[str] = None,
                    op: Optional[str] = None, allow_inf: bool = False) -> np.ndarray:
    """Float arrays become float32 and must hold no NaN (and no Inf unless ``allow_inf``)."""
    if arr.dtype.kind == "f":
        bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
        if np.any(bad):
            raise ModelError(f"{what} contains NaN or Inf values; a quantized model needs finite weights",
                             file=path, node=node, op=op)
        arr = arr.astype(np.float32)
    elif arr.dtype.kind not in "iub":
        raise ModelError(f"{what} holds {arr.dtype} data; expected numbers", file=path, node=node, op=op)
    return arr


# (op, input index) where an infinite constant is meaningful: pad values and clip bounds.
_INF_ALLOWED = {("Pad", 2), ("Clip", 1), ("Clip", 2)}
# (op, input index) of optional inputs that exporters give as an empty tensor meaning "not given"
# (Resize's roi and scales before opset 13 had no other way to be omitted).
_EMPTY_MEANS_ABSENT = {("Resize", 1), ("Resize", 2)}


def _node_inputs(n: onnx.NodeProto, tensors: Dict[str, Tensor], path: str, name: str) -> List[str]:
    """The node's inputs, an empty constant in an optional slot that ONNX reads as "not given"
    replaced by '' (the IR's omitted input); any other empty float constant is refused."""
    inputs = list(n.input)
    for idx, i in enumerate(inputs):
        t = tensors.get(i)
        if t is None or not t.is_const or t.data.size:
            continue
        if (n.op_type, idx) in _EMPTY_MEANS_ABSENT:
            inputs[idx] = ""
        elif t.data.dtype.kind == "f":
            raise ModelError(f"constant '{i}' has shape {list(t.shape)} with no elements; this input of "
                             f"{n.op_type} needs values", file=path, node=name, op=n.op_type)
    while inputs and not inputs[-1]:
        inputs.pop()
    return inputs


def _check_infinite_uses(n: onnx.NodeProto, tensors: Dict[str, Tensor], path: str, name: str) -> None:
    """Constants holding +-Inf may only be a Pad value or a Clip bound."""
    for idx, i in enumerate(n.input):
        t = tensors.get(i)
        if t is None or not t.is_const or t.data.dtype.kind != "f" or (n.op_type, idx) in _INF_ALLOWED:
            continue
        if not np.all(np.isfinite(t.data)):
            raise ModelError(f"constant '{i}' contains Inf values; only a Pad value or a Clip bound may be "
                             "infinite, a quantized model needs finite weights", file=path, node=name,
                             op=n.op_type)


def _check_attributes(n: onnx.NodeProto, attrs: Dict[str, object], path: str, name: str) -> None:
    """Float attributes (alpha, beta, epsilon, ...) must be finite numbers."""
    for key, value in attrs.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not np.isfinite(v) for v in values):
            raise ModelError(f"attribute '{key}' is {value}; expected a finite number", file=path, node=name,
                             op=n.op_type)


def _check_node_shapes(n: onnx.NodeProto, attrs: Dict[str, object], tensors: Dict[str, Tensor], path: str,
                       name: str) -> None:
    """Shape rules of the ONNX spec that onnx shape inference does not enforce (onnxruntime does)."""
    shapes = [tensors[i].shape if i in tensors else None for i in n.input]
    if n.op_type == "Conv" and len(shapes) >= 2 and shapes[0] and shapes[1] and len(shapes[0]) == len(shapes[1]):
        group = int(attrs.get("group", 1))
        c_in, m_out, c_w = shapes[0][1], shapes[1][0], shapes[1][1]
        if group <= 0 or c_in != c_w * group or m_out % group:
            raise ModelError(f"the input has {c_in} channels and the weights {list(shapes[1])} with group={group}; "
                             "ONNX needs input channels == weight dim 1 x group and output channels divisible "
                             "by group", file=path, node=name, op=n.op_type)
    if n.op_type == "Gemm" and len(shapes) == 3 and shapes[2] is not None and n.output[0] in tensors:
        out = tensors[n.output[0]].shape
        c = shapes[2]
        if len(c) > len(out) or any(d not in (1, o) for d, o in zip(c[::-1], out[::-1])):
            raise ModelError(f"the C operand has shape {list(c)}, which does not broadcast to the output "
                             f"{list(out)}", file=path, node=name, op=n.op_type)


def _initializer_array(init: onnx.TensorProto, path: str) -> np.ndarray:
    """Decode an initializer (dims were checked already); float data must be finite."""
    try:
        arr = numpy_helper.to_array(init)
    except Exception as e:
        raise ModelError(f"initializer '{init.name}' cannot be read ({_ONE_LINE.sub(' ', str(e)).strip()}); "
                         "its data does not match its dims and type", file=path) from None
    return _finite_float32(arr, f"initializer '{init.name}'", path, allow_inf=True)


def _constant_node_array(n: onnx.NodeProto, path: str, name: str) -> np.ndarray:
    """The value of a Constant node as a numpy array (finite float32 for floats)."""
    if len(n.attribute) != 1:
        raise ModelError("a Constant node needs exactly one value attribute", file=path, node=name, op="Constant")
    attr = n.attribute[0]
    if attr.type == onnx.AttributeProto.TENSOR and 0 not in attr.t.dims:
        # an empty constant is checked where it is used (_node_inputs): PyTorch's opset-11 Resize
        # takes its omitted roi / scales from empty Constant nodes
        _dims_elements(list(attr.t.dims), "the constant", path, name, "Constant")
    elif attr.type == onnx.AttributeProto.TENSOR and any(d < 0 for d in attr.t.dims):
        raise ModelError(f"the constant has shape {list(attr.t.dims)}; negative dims are invalid", file=path,
                         node=name, op="Constant")
    elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
        raise ModelError("sparse constants are not supported", file=path, node=name, op="Constant")
    try:
        value = onnx.helper.get_attribute_value(attr)
        arr = numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.array(value)
    except Exception as e:
        raise ModelError(f"the constant's value cannot be read ({_ONE_LINE.sub(' ', str(e)).strip()})",
                         file=path, node=name, op="Constant") from None
    return _finite_float32(arr, "the constant", path, name, "Constant", allow_inf=True)


def _fill_defaults(n: onnx.NodeProto, attrs: Dict[str, object], tensors: Dict[str, Tensor], opset: int) -> None:
    """Make ONNX attribute defaults explicit where they depend on the input or the opset (the passes
    read them)."""
    if n.op_type == "Transpose" and "perm" not in attrs and n.input and n.input[0] in tensors:
        attrs["perm"] = list(reversed(range(len(tensors[n.input[0]].shape))))
    if n.op_type in ("Softmax", "LogSoftmax") and "axis" not in attrs and opset < 13:
        attrs["axis"] = 1  # (a non-last axis frontend/decompose.py could not rewrite is then refused)


def _check_shape(shape, what: str, path: str, node: Optional[str] = None, op: Optional[str] = None) -> None:
    _dims_elements(shape, what, path, node, op)


def _check_outputs_depend_on_input(nodes: List[Node], inputs: List[str], outputs: List[str], path: str) -> None:
    """Refuse a graph output computed from constants only (there is nothing to compile for it); the
    input's shape counts as a constant (static once compiled: Shape(x) as an output)."""
    live = set(inputs)
    for n in nodes:
        if n.op not in ("Shape", "Size") and any(i in live for i in n.inputs):
            live.update(n.outputs)
    for o in outputs:
        if o not in live:
            prod = next((n for n in nodes if o in n.outputs), None)
            raise ModelError(f"graph output '{o}' does not depend on the input '{inputs[0]}': it is computed from "
                             "constants (or the input's shape) only, so its value is fixed; qnnc compiles outputs "
                             "computed from the input values (use the constant directly in your application, or "
                             "export the model without it)", file=path, node=prod.name if prod else None,
                             op=prod.op if prod else None)


def _identity_casts(model: onnx.ModelProto) -> None:
    """A Cast to the type its input already has (PyTorch's legacy exporter puts float -> float Casts
    around a clamp with tensor bounds; a CastLike of a float to a float tensor's type, once a Cast)
    becomes an Identity, which the passes drop; the IR keeps no element types, so this is decided
    here on the inferred ones."""
    types = {vi.name: vi.type.tensor_type.elem_type
             for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output)}
    types.update({i.name: i.data_type for i in model.graph.initializer})
    for n in model.graph.node:
        to = next((a.i for a in n.attribute if a.name == "to"), None)
        if n.op_type == "Cast" and n.input and to is not None and types.get(n.input[0]) == to:
            n.op_type = "Identity"
            del n.attribute[:]


@functools.lru_cache(maxsize=1)
def _first_opsets() -> Dict[str, int]:
    """{default-domain op: the first opset that defines it}."""
    first: Dict[str, int] = {}
    for h in onnx.defs.get_all_schemas_with_history():
        if h.domain == "":
            first[h.name] = min(first.get(h.name, h.since_version), h.since_version)
    return first


def _check_attribute_types(model: onnx.ModelProto, path: str, opset: int) -> None:
    """Every attribute of a default-domain node has the type its operator's schema declares. The
    ONNX checker says so too, but only after the composite rewrites, which read attributes first;
    running the whole checker before them would refuse operators they replace (GroupNormalization-18
    is deprecated in the schema)."""
    for n in model.graph.node:
        if n.domain not in ("", "ai.onnx"):
            continue
        try:
            schema = onnx.defs.get_schema(n.op_type, opset, "")
        except Exception:  # noqa: BLE001 - an unknown op: the op checks name it later
            since = _first_opsets().get(n.op_type)
            if since is not None and since > opset:  # an exporter's op newer than the opset it declares
                raise ModelError(f"{n.op_type} is defined from opset {since} on, but the model declares "
                                 f"opset {opset} (onnxruntime refuses it too); export the model at opset "
                                 f"{since} or later", file=path, node=n.name, op=n.op_type) from None
            continue
        for a in n.attribute:
            want = schema.attributes.get(a.name)
            if want is not None and a.type != int(want.type):
                raise ModelError(f"attribute '{a.name}' has type {onnx.AttributeProto.AttributeType.Name(a.type)}, "
                                 f"expected {onnx.AttributeProto.AttributeType.Name(int(want.type))}",
                                 file=path, node=n.name, op=n.op_type)


def import_onnx(path: str, input_shape: Optional[Dict[str, List[int]]] = None,
                config_file: Optional[str] = None) -> Graph:
    """Load, check and shape-infer an ONNX model and convert it to the IR.

    Opsets outside MIN_OPSET-MAX_OPSET are converted first (:func:`convert_opset`), a dynamic batch
    dim becomes 1, and constant subgraphs (exporters' shape arithmetic) are folded to a fixed point
    (onnx_fold.py) before any node is looked at: the op checks see only what is left.
    """
    model = _read_model(path)
    _opset(model, path)
    _check_initializers(model, path)
    _check_graph_structure(model, path)
    _load_external_data(model, path)
    model, opset = convert_opset(model, path)
    quant = None
    if is_prequantized(model):
        model, quant = strip_quantization(model, path)
    float_uint8_inputs(model, path)  # uint8 image inputs Cast to float: float inputs (see uint8_inputs.py)
    model = rewrite_id_reads(model, opset, path, input_shape)  # ids read only as table lookups (id_rewrites.py)
    ids = index_inputs(model)  # token ids of embedding tables (index_inputs.py), as the user's model has them
    check_rows(ids, path)
    values = float_value_inputs(model, ids)  # an attention mask cast to float: float inputs (value_inputs.py)
    rebatched = _pin_inputs(model, input_shape or {}, path, config_file, ids)
    _check_attribute_types(model, path, opset)  # before the rewrites read them (a perm given as INT, ...)
    model = expand_composites(model, opset, path)  # as the float runner does (calibration names)
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # ValidationError, or a C++ error surfacing as another type
        raise _onnx_error("the ONNX checker rejects the model", e, path) from None
    try:
        model = shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        model = fold_onnx_constants(model, opset, MAX_TENSOR_ELEMENTS)
    except Exception as e:
        if rebatched:  # e.g. a Reshape to the literal batch: the samples are not independent
            batch_error(*rebatched, path)
        raise _onnx_error("shape inference fails", e, path) from None
    if rebatched:
        for o in model.graph.output:
            od = o.type.tensor_type.shape.dim
            if not od or not od[0].HasField("dim_value") or od[0].dim_value != 1:
                batch_error(*rebatched, path)  # an output keeps several samples: not single-sample
    _identity_casts(model)
    drop_index_casts(model, ids)

    g = model.graph
    tensors: Dict[str, Tensor] = {}
    for init in g.initializer:
        arr = _initializer_array(init, path)
        tensors[init.name] = Tensor(init.name, tuple(arr.shape), arr)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.name in tensors:
            continue
        shape = _shape_of(vi)
        if shape is not None:
            tensors[vi.name] = Tensor(vi.name, shape)

    inputs = [i.name for i in g.input if i.name not in {x.name for x in g.initializer}]
    outputs = [o.name for o in g.output]
    for i in inputs:
        _check_shape(tensors[i].shape, f"input '{i}'", path)

    nodes: List[Node] = []
    available = set(inputs) | {t for t in tensors if tensors[t].is_const} | {""}
    names = set()
    for idx, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{idx}"
        if name in names:
            name = f"{name}_{idx}"
        names.add(name)
        if n.domain not in ("", "ai.onnx"):
            hint = ("; skl2onnx adds a ZipMap (a list of dicts) after a classifier's probabilities by default: "
                    "convert with options={'zipmap': False} to have them as a tensor"
                    if (n.domain, n.op_type) == ("ai.onnx.ml", "ZipMap") else "")
            raise ModelError(f"operator domain '{n.domain}' is not supported; qnnc reads the default ONNX "
                             f"domain only{hint}", file=path, node=name, op=n.op_type)
        for i in n.input:
            if i not in available:
                raise ModelError(f"input '{i}' is not produced before this node (missing initializer, "
                                 "or the graph has a cycle / is not topologically sorted)",
                                 file=path, node=name, op=n.op_type)
        attrs = _attrs(n)
        node_inputs = _node_inputs(n, tensors, path, name)
        _check_attributes(n, attrs, path, name)
        _check_infinite_uses(n, tensors, path, name)
        _check_node_shapes(n, attrs, tensors, path, name)
        if n.op_type == "Constant":
            arr = _constant_node_array(n, path, name)
            tensors[n.output[0]] = Tensor(n.output[0], tuple(arr.shape), arr)
            available.add(n.output[0])
            continue
        for o in n.output:
            if o and o in available:  # an empty name is an omitted optional output (LSTM Y, ...)
                raise ModelError(f"tensor '{o}' is produced twice (duplicate names)", file=path,
                                 node=name, op=n.op_type)
            available.add(o)
            if o and o not in tensors:
                raise ModelError(f"shape inference could not determine a static shape for output '{o}'",
                                 file=path, node=name, op=n.op_type)
            if o:
                _check_shape(tensors[o].shape, f"tensor '{o}'", path, name, n.op_type)
        _fill_defaults(n, attrs, tensors, opset)
        nodes.append(Node(name, n.op_type, node_inputs, list(n.output), attrs))
    for o in outputs:
        if o not in available:
            raise ModelError(f"graph output '{o}' is never produced", file=path)
    if not inputs or not outputs:
        raise ModelError(f"the model has {len(inputs)} inputs and {len(outputs)} outputs; qnnc compiles "
                         "models with at least one of each", file=path)
    for o in outputs:
        if o in inputs:  # nothing to compute; the application has the value already
            raise ModelError(f"graph output '{o}' is the graph input itself; qnnc compiles outputs computed "
                             "by the model (export the model without it)", file=path)
    _check_outputs_depend_on_input(nodes, inputs, outputs, path)
    stem = os.path.splitext(os.path.basename(path))[0]
    tied = next((json.loads(p.value) for p in model.metadata_props if p.key == TIED_RANGES_KEY), [])
    return Graph(name=stem, tensors=tensors, nodes=nodes, inputs=inputs, outputs=outputs,
                 source=os.path.abspath(path), opset=opset, quant=quant, tied_ranges=tied, output_names=list(outputs),
                 index_inputs=dict(ids), value_inputs=values)
