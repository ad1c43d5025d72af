"""Stage 1, front end: an ONNX file -> :class:`~qnnc.ir.Graph`.

Input: the model path, optional input-shape pins and the config file (for error locations).
Output: a Graph (ops, constants, static shapes; for a pre-quantized QDQ/QOperator model the
float graph plus its scales in ``Graph.quant``). Modules: importer (reading and checking the
ONNX file), onnx_fold (constant folding with onnx's reference evaluator), qdq (importing
QDQ/QOperator models), float_runner (float runs with onnxruntime for calibration and
validation), data (loading .npz/.npy samples).
"""
from .importer import import_onnx

__all__ = ["import_onnx"]
