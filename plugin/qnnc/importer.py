"""Stage 1 - import: ONNX file -> :class:`qnnc.ir.Graph` with static shapes and numpy constants."""
from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from .errors import ModelError
from .ir import Graph, Node, Tensor
from .onnx_fold import fold_onnx_constants, missing_shapes

MIN_OPSET = 11
MAX_OPSET = 21
# Guard against absurd models before any allocation happens.
MAX_TENSOR_ELEMENTS = 1 << 31
MAX_MODEL_BYTES = 512 << 20

_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


def _read_model(path: str) -> onnx.ModelProto:
    try:
        size = os.path.getsize(path)
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"the file is {size} bytes; qnnc accepts models up to {MAX_MODEL_BYTES} bytes "
                             "(no microcontroller holds more)", file=path)
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ModelError(f"cannot read the model: {e.strerror}", file=path) from None
    if not data:
        raise ModelError("the file is empty; expected an ONNX model (protobuf)", file=path)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError / RuntimeWarning subclasses
        raise ModelError(f"not a valid ONNX file ({type(e).__name__}: the protobuf does not parse); "
                         "was it truncated or is it another format?", file=path) from None
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise ModelError("the file parses but holds no graph with nodes; expected an ONNX model", file=path)
    return model


def _load_external_data(model: onnx.ModelProto, path: str) -> None:
    base = os.path.dirname(os.path.abspath(path))
    uses_external = False
    for init in model.graph.initializer:
        if init.data_location != onnx.TensorProto.EXTERNAL:
            continue
        uses_external = True
        loc = next((e.value for e in init.external_data if e.key == "location"), "")
        target = os.path.normpath(os.path.join(base, loc))
        if os.path.isabs(loc) or not (target == base or target.startswith(base + os.sep)):
            raise ModelError(f"initializer '{init.name}' points to external data '{loc}' outside the "
                             "model's folder; refused (external data must sit beside the model)", file=path)
        if not os.path.isfile(target):
            raise ModelError(f"initializer '{init.name}' needs external data file '{loc}', which is missing",
                             file=path)
    if uses_external:
        try:
            onnx.external_data_helper.load_external_data_for_model(model, base)
        except Exception as e:
            raise ModelError(f"cannot load external data: {e}", file=path) from None


def _opset(model: onnx.ModelProto, path: str) -> int:
    version = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            version = imp.version
    if version is None:
        raise ModelError("the model imports no default ONNX operator set", file=path)
    if not MIN_OPSET <= version <= MAX_OPSET:
        raise ModelError(f"opset {version} is not supported; qnnc reads opsets {MIN_OPSET}-{MAX_OPSET} "
                         "(convert with onnx.version_converter.convert_version)", file=path)
    return version


def _pin_inputs(model: onnx.ModelProto, pins: Dict[str, List[int]], path: str, config_file: Optional[str]) -> None:
    init_names = {i.name for i in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in init_names]
    names = {i.name for i in real_inputs}
    for name in pins:
        if name not in names:
            raise ModelError(f"config input_shape names '{name}', but the model's inputs are "
                             f"{sorted(names)}", file=config_file or path)
    for inp in real_inputs:
        if not inp.type.HasField("tensor_type"):
            raise ModelError(f"input '{inp.name}' is not a tensor", file=path)
        tt = inp.type.tensor_type
        if tt.elem_type not in _FLOAT_TYPES:
            raise ModelError(f"input '{inp.name}' has element type "
                             f"{onnx.TensorProto.DataType.Name(tt.elem_type)}; expected a float tensor", file=path)
        dims = tt.shape.dim
        if inp.name in pins:
            pin = pins[inp.name]
            if len(pin) != len(dims):
                raise ModelError(f"config input_shape for '{inp.name}' has {len(pin)} dims; the model's input "
                                 f"has {len(dims)}", file=config_file or path)
            for d, v in zip(dims, pin):
                if d.HasField("dim_value") and d.dim_value != v:
                    raise ModelError(f"config input_shape for '{inp.name}' says {pin}, but the model fixes "
                                     f"that dim to {d.dim_value}", file=config_file or path)
                d.Clear()
                d.dim_value = v
        for i, d in enumerate(dims):
            if not d.HasField("dim_value"):
                label = d.dim_param or "?"
                raise ModelError(f"input '{inp.name}' has a dynamic dim {i} ('{label}'); pin it in the config, "
                                 f"e.g. input_shape: {{{inp.name}: [1, ...]}}", file=path)
            if d.dim_value <= 0:
                raise ModelError(f"input '{inp.name}' dim {i} is {d.dim_value}; dims must be positive", file=path)


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


def _check_shape(shape, what: str, path: str, node: Optional[str] = None, op: Optional[str] = None) -> None:
    n = 1
    for d in shape:
        if d <= 0:
            raise ModelError(f"{what} has shape {list(shape)}; zero or negative dims are not supported",
                             file=path, node=node, op=op)
        n *= d
        if n > MAX_TENSOR_ELEMENTS:
            raise ModelError(f"{what} has shape {list(shape)} with more than {MAX_TENSOR_ELEMENTS} elements",
                             file=path, node=node, op=op)


def import_onnx(path: str, input_shape: Optional[Dict[str, List[int]]] = None,
                config_file: Optional[str] = None) -> Graph:
    """Load, check and shape-infer an ONNX model and convert it to the IR."""
    model = _read_model(path)
    opset = _opset(model, path)
    _load_external_data(model, path)
    _pin_inputs(model, input_shape or {}, path, config_file)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid model"
        raise ModelError(f"the ONNX checker rejects the model: {first}", file=path) from None
    try:
        model = shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        if missing_shapes(model):
            model = fold_onnx_constants(model, opset)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"shape inference fails: {first}", file=path) from None

    g = model.graph
    tensors: Dict[str, Tensor] = {}
    for init in g.initializer:
        try:
            arr = numpy_helper.to_array(init)
        except Exception as e:
            raise ModelError(f"initializer '{init.name}' cannot be read: {e}", file=path) from None
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                raise ModelError(f"initializer '{init.name}' contains NaN or Inf values; a quantized model "
                                 "needs finite weights", file=path)
            arr = arr.astype(np.float32)
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
            raise ModelError(f"operator domain '{n.domain}' is not supported; qnnc reads the default ONNX "
                             "domain only", file=path, node=name, op=n.op_type)
        for i in n.input:
            if i not in available:
                raise ModelError(f"input '{i}' is not produced before this node (missing initializer, "
                                 "or the graph has a cycle / is not topologically sorted)",
                                 file=path, node=name, op=n.op_type)
        attrs = _attrs(n)
        if n.op_type == "Constant":
            value = onnx.helper.get_attribute_value(next(a for a in n.attribute))
            if isinstance(value, onnx.TensorProto):
                arr = numpy_helper.to_array(value)
            else:
                arr = np.array(value)
            if arr.dtype.kind == "f":
                if not np.all(np.isfinite(arr)):
                    raise ModelError("constant contains NaN or Inf", file=path, node=name, op="Constant")
                arr = arr.astype(np.float32)
            tensors[n.output[0]] = Tensor(n.output[0], tuple(arr.shape), arr)
            available.add(n.output[0])
            continue
        for o in n.output:
            if o in available:
                raise ModelError(f"tensor '{o}' is produced twice (duplicate names)", file=path,
                                 node=name, op=n.op_type)
            available.add(o)
            if o and o not in tensors:
                raise ModelError(f"shape inference could not determine a static shape for output '{o}'",
                                 file=path, node=name, op=n.op_type)
            if o:
                _check_shape(tensors[o].shape, f"tensor '{o}'", path, name, n.op_type)
        nodes.append(Node(name, n.op_type, list(n.input), list(n.output), attrs))
    for o in outputs:
        if o not in available:
            raise ModelError(f"graph output '{o}' is never produced", file=path)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"the model has {len(inputs)} inputs and {len(outputs)} outputs; qnnc compiles "
                         "models with exactly one of each", file=path)
    stem = os.path.splitext(os.path.basename(path))[0]
    return Graph(name=stem, tensors=tensors, nodes=nodes, inputs=inputs, outputs=outputs,
                 source=os.path.abspath(path), opset=opset)
