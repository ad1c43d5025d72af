"""CastLike, which onnxscript-built graphs and ONNX function bodies use to give a constant a
tensor's element type, read as what it amounts to once that type is known."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


def cast_likes_as_casts(model: onnx.ModelProto) -> None:
    """CastLike(x, like), in place, where shape inference knows like's element type: a constant x
    becomes a Constant of that type (what the rewrites read as a float constant: the 0 and alpha
    of an expanded LeakyRelu / Elu / Selu body), a computed x a Cast(to=that type) (float -> float:
    an Identity later). Function bodies and onnxscript-built graphs cast constants like a tensor."""
    try:
        g = shape_inference.infer_shapes(model).graph
        types = {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.value_info) + list(g.output)}
    except Exception:  # (the importer reports a model whose shapes do not infer)
        types = {}
    types.update({i.name: i.data_type for i in model.graph.initializer})
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        elif n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name in _LITERALS:
            a = n.attribute[0]
            values[n.output[0]] = np.array(onnx.helper.get_attribute_value(a), _LITERALS[a.name])
        if n.op_type != "CastLike" or n.domain not in ("", "ai.onnx") or len(n.input) != 2 \
                or not types.get(n.input[1]):
            continue
        to = types[n.input[1]]
        del n.attribute[:]  # (CastLike's saturate / round_mode: float -> float here)
        if n.input[0] in values:
            v = values[n.input[0]].astype(onnx.helper.tensor_dtype_to_np_dtype(to))
            n.op_type = "Constant"
            del n.input[:]
            n.attribute.append(onnx.helper.make_attribute("value", numpy_helper.from_array(v)))
            values[n.output[0]] = v
        else:
            n.op_type = "Cast"
            del n.input[1]
            n.attribute.append(onnx.helper.make_attribute("to", to))


# A Constant node's literal attributes and the element type of their value.
_LITERALS = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64, "value_ints": np.int64}
