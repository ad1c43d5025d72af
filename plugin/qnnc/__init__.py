"""qnnc: quantized neural-network compiler for microcontrollers.

Pipeline (one direction): import -> passes -> quantize -> plan -> emit.
"""

__version__ = "0.1.0"
