"""Stage 5, emit: QModel + MemoryPlan -> C99 sources as {file name: text}.

Input: the :class:`~qnnc.qmodel.QModel` and its :class:`~qnnc.plan.MemoryPlan`. Output: the
files of the model (c_emitter: ``<name>.h``, ``<name>.c``, ``<name>_weights.c``, optional test
data). output_dir writes a file set into the output folder atomically; hostrun compiles and
runs generated code on the host (``qnnc validate``, tests).
"""
from .c_emitter import emit_c, emit_test_data

__all__ = ["emit_c", "emit_test_data"]
