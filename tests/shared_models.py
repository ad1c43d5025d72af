"""Locating the real models and data in ../shared/models (not part of a user's clone).

Set QNNC_SHARED_MODELS to the folder, else ``<repo>/../shared/models`` is used. Tests that
need it call :func:`require` and skip with a clear reason when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = ["digits_cnn_sklearn", "onnx_zoo_mnist8", "mlperf_tiny_kws_dscnn", "mlperf_tiny_ic_resnet8",
          "mlperf_tiny_ad_fc_autoencoder"]


def shared_dir() -> Optional[Path]:
    env = os.environ.get("QNNC_SHARED_MODELS")
    p = Path(env) if env else REPO.parent / "shared" / "models"
    return p if p.is_dir() else None


def require(model: str) -> Path:
    """The folder of one shared model, or skip the test with the reason."""
    d = shared_dir()
    if d is None:
        pytest.skip("shared models not found: set QNNC_SHARED_MODELS or place them at ../shared/models")
    if not (d / model / "model.onnx").is_file():
        pytest.skip(f"shared model {model} not found in {d}")
    return d / model


def random_inputs(model: str, shape, count: int, seed: int) -> np.ndarray:
    """Seeded stand-in data for models whose real data is not redistributable."""
    rng = np.random.default_rng(seed)
    if model == "mlperf_tiny_ic_resnet8":  # raw RGB pixels 0..255
        return rng.integers(0, 256, size=(count,) + tuple(shape[1:])).astype(np.float32)
    return (rng.standard_normal((count,) + tuple(shape[1:])) * 8.0 - 20.0).astype(np.float32)
