"""onnxruntime sessions as qnnc runs float models: no graph optimisation (the graph as written,
every tensor measurable), one thread (calibration runs one process per core), quiet."""
from __future__ import annotations

import onnx


def onnxruntime_session(model: onnx.ModelProto):
    """An onnxruntime CPU session of ``model`` (ImportError without onnxruntime). Files saved by a
    newer onnx package carry an IR version older runtimes refuse; opsets 11-21 need no more than
    IR 10, so that is declared (on a copy) for the run."""
    import onnxruntime as ort

    if model.ir_version > 10:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        model.ir_version = 10
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
