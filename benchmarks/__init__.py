"""qnnc Cortex-M benchmarks (see README.md)."""
