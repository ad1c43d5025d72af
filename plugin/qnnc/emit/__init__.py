"""Stage 6 - C emission."""
from .c_emitter import emit_c, emit_test_data

__all__ = ["emit_c", "emit_test_data"]
