"""int4 packed weights and per-layer precision overrides.

* packing (two weights per byte, low nibble first, CMSIS-NN ``arm_*_s4``) and int4 quantization;
* the ``qnnc_*_s4`` kernels against the numpy reference (which unpacks the same bytes) on seeded
  random cases, odd weight counts included, compiled with strict warnings and under ASan+UBSan;
* config validation of ``quantization.weight_bits`` / ``overrides`` with YAML line numbers, and
  which layer gets which precision;
* the shared models (skipped without ../shared/models): all-int4 and mixed builds, generated C
  bit-exact with the reference under sanitizers, accuracy floors measured on the shipped test
  data, and the flash the packed weights save.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import List

import numpy as np
import pytest

import case_files
from case_files import canary, compile_drivers, conv_geometry, i32, run_case_file
from c_build import compile_c, find_compiler, include_dir, kernel_sources
from onnx_factory import save, tiny_cnn, tiny_mlp
from qemu_harness import harness
from qnnc.config import load_config
from qnnc.errors import ConfigError
from qnnc.quantize.fixedpoint import ROUND_HALF_EVEN, ROUND_TFLITE
from qnnc.frontend.importer import import_onnx
from qnnc.quantize.int4 import pack_s4, quantize_weights_s4
from qnnc.kernel_params import ConvParams, FcParams
from qnnc.passes import run_passes
from qnnc.pipeline import precision_request
from qnnc.quantize.precision import requested_bits
from qnnc.reference import kernels_s4 as ref4
from qnnc.reference.kernels_s4 import unpack_s4
from test_kernels import arr, dims, rand_act, rand_i8, rand_lut, rand_scales, rand_zp

HERE = Path(__file__).resolve().parent
DRIVER_SRC = HERE / "int4_driver.c"
S4_KERNELS = ["qnnc_conv_s4", "qnnc_depthwise_conv_s4", "qnnc_fully_connected_s4"]
KERNEL_IDS = {"conv": 0, "depthwise": 1, "fc": 2}


def layer_weight_bits(graph, cfg, path):
    """{node: weight bits} the precision plan gives the weight layers for this config."""
    return requested_bits(graph, precision_request(cfg, ROUND_TFLITE), path)[0]


# ------------------------------------------------------------ packing, quantization --


def test_pack_known_bytes():
    """Low nibble first; an odd count pads the last high nibble with 0 (CMSIS-NN convention)."""
    packed = pack_s4(np.array([1, -1, 7, -8, -7], np.int8))
    assert packed.dtype == np.int8
    assert packed.view(np.uint8).tolist() == [0xF1, 0x87, 0x09]
    assert unpack_s4(packed, 5).tolist() == [1, -1, 7, -8, -7]


@pytest.mark.parametrize("n", [1, 2, 7, 64, 129])
def test_pack_unpack_round_trip(n):
    q = np.random.default_rng(n).integers(-8, 8, n).astype(np.int8)
    packed = pack_s4(q)
    assert packed.size == (n + 1) // 2
    assert np.array_equal(unpack_s4(packed, n), q)


def test_pack_rejects_values_outside_int4():
    with pytest.raises(ValueError):
        pack_s4(np.array([8], np.int8))


@pytest.mark.parametrize("per_channel", [True, False])
def test_int4_quantization_range_and_mse_clipping(per_channel):
    """Weights land in [-7, 7]; the MSE clipping search never has a larger error than min-max
    (it includes alpha = 1, min-max's own scale), and in total here it is smaller."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 3, 3, 5)) * rng.uniform(0.1, 2.0, (6, 1, 1, 1))
    w[0, 0, 0, 0] = 9.0  # an outlier: min-max wastes most levels on it
    errs = {}
    for clip in ("minmax", "mse"):
        q, s = quantize_weights_s4(w, per_channel, clip)
        assert q.dtype == np.int8 and q.shape == w.shape
        assert q.min() >= -7 and q.max() <= 7
        assert s.shape == (6,) and np.all(s > 0)
        if not per_channel:
            assert np.all(s == s[0])
        errs[clip] = ((q * s.reshape(-1, 1, 1, 1) - w) ** 2).reshape(6, -1).sum(axis=1)
    if per_channel:
        assert np.all(errs["mse"] <= errs["minmax"] + 1e-12)
    assert errs["mse"].sum() < 0.97 * errs["minmax"].sum()  # measured: 7.94 vs 8.50 per channel


def test_all_zero_channel_quantizes_to_zero():
    w = np.zeros((2, 4))
    w[1] = [0.5, -0.25, 0.1, 0.0]
    q, s = quantize_weights_s4(w, True)
    assert np.all(q[0] == 0) and np.all(np.isfinite(s))


# --------------------------------------------------------------------- kernel cases --


@dataclass
class Case:
    kernel: str
    blobs: List[bytes]
    expected: np.ndarray
    desc: str
    weights: int = 0  # int4 weights in the packed array


def rand_s4(rng, shape) -> np.ndarray:
    """Random int4 weights over the whole nibble range (-8 checks the sign extension)."""
    return rng.integers(-8, 8, shape).astype(np.int8)


def rand_rounding(rng) -> int:
    """Mostly TFLite rounding (float models), sometimes half-to-even (QDQ models' mode); the
    latter only with multipliers from real scales (its shifts stay in the supported range)."""
    return ROUND_HALF_EVEN if rng.random() < 0.25 else ROUND_TFLITE


def conv_case(rng, depthwise: bool, wide: bool = False, first=None) -> Case:
    """wide: channel counts of the SIMD paths' blocks (multiples of 4 / 8 / 16 and one past).
    first: (in_c, kh, kw) of a first layer (few input channels, a window of K = kh * kw * in_c
    taps, stride 2, padding on every side), as KWS's 1x10x4."""
    if first is not None:
        ic, kh, kw = first
        h, w, sh, sw, dh, dw, pt, pl, pb, pr = 12, 7, 2, 2, 1, 1, kh // 2, kw // 2, kh - 1 - kh // 2, kw // 2
        oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    else:
        h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow = conv_geometry(rng, 8 if wide else 10, 3)
    if first is not None:
        oc, dm = int(rng.choice([5, 8, 16])), 1
    elif depthwise:
        ic = int(rng.choice([4, 6, 8, 12, 16, 17, 20, 32])) if wide else int(rng.integers(1, 8))
        dm = int(rng.choice([1, 1, 2, 2, 3]))
        oc = ic * dm
    elif wide:
        ic, oc, dm = int(rng.choice([1, 3, 4, 8, 16, 17, 24, 32])), int(rng.choice([2, 4, 5, 8, 16, 17])), 1
    else:
        ic, oc, dm = int(rng.integers(1, 10)), int(rng.integers(1, 10)), 1
    act_min, act_max = rand_act(rng)
    rounding = rand_rounding(rng)
    p = ConvParams(input_offset=-rand_zp(rng), output_offset=rand_zp(rng), stride_h=sh, stride_w=sw,
                   pad_top=pt, pad_left=pl, dilation_h=dh, dilation_w=dw, depth_multiplier=dm,
                   act_min=act_min, act_max=act_max, act_lut=rand_lut(rng), rounding=rounding)
    mult, shift = rand_scales(rng, oc, raw_ok=rounding == ROUND_TFLITE)
    x = rand_i8(rng, (1, h, w, ic))
    fshape = (1, kh, kw, oc) if depthwise else (oc, kh, kw, ic)
    filt = rand_s4(rng, fshape)
    packed = pack_s4(filt)
    bias = None if rng.random() < 0.2 else rng.integers(-50000, 50000, oc).astype(np.int32)
    out_dims = (1, oh, ow, oc)
    fn = ref4.depthwise_conv_s4 if depthwise else ref4.conv_s4
    expected = fn(p, mult, shift, x, packed, fshape, bias, out_dims)
    blobs = [
        i32(p.input_offset, p.output_offset, sh, sw, pt, pl, dh, dw, dm, act_min, act_max, rounding),
        b"" if p.act_lut is None else arr(p.act_lut, np.int8),
        arr(mult, "<i4"), arr(shift, "<i4"), dims(x.shape), arr(x, np.int8),
        dims(fshape), packed.tobytes(), b"" if bias is None else arr(bias, "<i4"),
        dims(out_dims), canary(rng, expected.size),
    ]
    return Case("depthwise" if depthwise else "conv", blobs, expected,
                f"x{x.shape} filt{fshape} out{out_dims} dm={dm}", filt.size)


def fc_case(rng, wide: bool = False) -> Case:
    rows, k, n = int(rng.integers(1, 4)), int(rng.integers(1, 70)), int(rng.integers(1, 12))
    if wide:
        k = int(rng.choice([8, 15, 16, 31, 32, 33, 64, 129]))
    act_min, act_max = rand_act(rng)
    rounding = rand_rounding(rng)
    p = FcParams(input_offset=-rand_zp(rng), output_offset=rand_zp(rng), act_min=act_min, act_max=act_max,
                 act_lut=rand_lut(rng), rounding=rounding)
    mult, shift = rand_scales(rng, n, raw_ok=rounding == ROUND_TFLITE)
    x, wt = rand_i8(rng, (rows, k)), rand_s4(rng, (n, k))
    packed = pack_s4(wt)
    bias = None if rng.random() < 0.2 else rng.integers(-50000, 50000, n).astype(np.int32)
    expected = ref4.fully_connected_s4(p, mult, shift, x, packed, n, bias)
    blobs = [
        i32(p.input_offset, p.output_offset, act_min, act_max, rows, k, n, rounding),
        b"" if p.act_lut is None else arr(p.act_lut, np.int8),
        arr(mult, "<i4"), arr(shift, "<i4"), arr(x, np.int8), packed.tobytes(),
        b"" if bias is None else arr(bias, "<i4"), canary(rng, expected.size),
    ]
    return Case("fc", blobs, expected, f"x{x.shape} w{wt.shape}", wt.size)


BUILDERS = {"conv": (functools.partial(conv_case, depthwise=False), 200),
            "depthwise": (functools.partial(conv_case, depthwise=True), 200),
            "fc": (fc_case, 200)}
WIDE = 40  # cases per kernel with the SIMD paths' channel counts, after the others


@functools.lru_cache(maxsize=None)
def cases_for(kernel: str) -> List[Case]:
    builder, count = BUILDERS[kernel]
    rng = np.random.default_rng(4000 + KERNEL_IDS[kernel])
    wide = np.random.default_rng(4100 + KERNEL_IDS[kernel])
    cases = [builder(rng) for _ in range(count)] + [builder(wide, wide=True) for _ in range(WIDE)]
    if kernel == "conv":  # first layers: K a multiple of 8 from 1-3 input channels (the DSP raw window)
        cases += [conv_case(wide, False, first=f) for f in ((1, 10, 4), (1, 4, 2), (2, 3, 4), (3, 2, 4), (1, 3, 3))]
    return cases


def serialize(cases: List[Case]) -> bytes:
    return case_files.serialize(cases, KERNEL_IDS)


def run_cases(exe: Path, cases: List[Case], work: Path, env=None) -> List[bytes]:
    return run_case_file(exe, serialize(cases), len(cases), work, env)


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    return compile_drivers(tmp_path_factory, "int4_kernels", kernel_sources(S4_KERNELS) + [DRIVER_SRC])


@pytest.mark.parametrize("build", ["O2", "asan_ubsan"])
@pytest.mark.parametrize("kernel", list(BUILDERS))
def test_s4_kernel_matches_reference(kernel, build, drivers):
    work, exes = drivers
    exe, env = exes[build]
    cases = cases_for(kernel)
    assert any(c.weights % 2 for c in cases), "no odd weight count among the cases"
    got = run_cases(exe, cases, work, env)
    bad = [f"case {i}: {c.desc}" for i, (c, g) in enumerate(zip(cases, got))
           if g != np.ascontiguousarray(c.expected).tobytes()]
    assert not bad, f"{len(bad)}/{len(cases)} {kernel} cases differ:\n" + "\n".join(bad[:5])


def test_depthwise_multiplier_two_is_covered():
    assert any(c.desc.endswith("dm=2") for c in cases_for("depthwise"))


def test_s4_kernels_compile_for_cortex_m3(tmp_path):
    """Warning-free for a Cortex-M3 (no DSP: the int4 kernels' portable C)."""
    if find_compiler("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    flags = ("-mcpu=cortex-m3", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wconversion")
    for src in kernel_sources(S4_KERNELS):
        compile_c([src], [include_dir()], tmp_path / f"{src.stem}.o", compiler="arm-none-eabi-gcc",
                  base_flags=flags, compile_only=True)


@pytest.mark.qemu
@pytest.mark.parametrize("core, flags", [("m4", []), ("m4", ["-DQNNC_NO_INLINE_ASM"]), ("m55", [])],
                         ids=["m4", "m4-c-loops", "m55"])
def test_s4_kernels_on_cortex_m_in_qemu(core, flags, tmp_path):
    """The random cases on emulated Cortex-M4 (the DSP paths; also with the C loops that
    -DQNNC_NO_INLINE_ASM selects) and M55 (the Helium paths): same bytes as the reference. (The
    portable C runs them on the host under ASan/UBSan, and the mixed KWS model on the M3.) One
    firmware per core with the first 40 random cases and every wide and first-layer case of each
    kernel.

    Reuses the Cortex-M case runner firmware (benchmarks/firmware/kernel_cases_main.c, which
    hashes every output buffer) with this module's driver (BENCH_CASES_DRIVER)."""
    H = harness()
    from cortex_m_cases import fnv1a
    main_c = H.FIRMWARE / "kernel_cases_main.c"
    cases = [c for k in BUILDERS for c in cases_for(k)[:40] + cases_for(k)[BUILDERS[k][1]:]]
    assert any(c.desc.endswith("dm=2") for c in cases_for("depthwise")[-WIDE:])
    blob = tmp_path / "cases.bin"
    blob.write_bytes(serialize(cases))
    fw = H.build_firmware(H.MACHINES[core], kernel_sources(S4_KERNELS) + [main_c], [include_dir(), HERE],
                          tmp_path, name=f"int4_{core}",
                          defines=[f'BENCH_CASES_FILE="{blob}"', 'BENCH_CASES_DRIVER="int4_driver.c"'],
                          extra_cflags=["-Wno-unused-function"] + flags)
    run = H.run_firmware(fw, tmp_path)
    assert run.returncode == 0, run.stdout[-2000:]
    got = {int(p[1]): int(p[2], 16) for p in (line.split() for line in run.stdout.splitlines())
           if len(p) == 3 and p[0] == "H"}
    assert len(got) == len(cases)
    bad = [f"{i}: {c.kernel} {c.desc}" for i, c in enumerate(cases)
           if got.get(i) != fnv1a(np.ascontiguousarray(c.expected).tobytes())]
    assert not bad, f"{len(bad)}/{len(cases)} cases differ on the {core}:\n" + "\n".join(bad[:5])


# ----------------------------------------------------------------------------- config --


def _yaml(tmp_path: Path, text: str) -> str:
    p = tmp_path / "q.yaml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("value", ["3", "16", "4.0", "true", "int4"])
def test_bad_weight_bits_names_key_and_line(tmp_path, value):
    path = _yaml(tmp_path, f"name: m\nquantization:\n  weights: per_channel\n  weight_bits: {value}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert "q.yaml:4" in msg and "quantization.weight_bits" in msg and "8 or 4" in msg


@pytest.mark.parametrize("entry, line, key, words", [
    ("    - match: Conv\n      weight_bits: 2\n", 5, "overrides[0].weight_bits", "8 or 4"),
    ("    - match: Conv\n      activation_bits: 4\n", 5, "overrides[0].activation_bits", "8 or 16"),
    ("    - match: Conv\n      bits: 4\n", 5, "overrides[0].bits", "unknown key"),
    ("    - weight_bits: 4\n", 4, "overrides[0]", "missing 'match'"),
    ("    - match: Conv\n", 4, "overrides[0]", "needs 'weight_bits'"),
    ("    - match: ''\n      weight_bits: 4\n", 4, "overrides[0].match", "non-empty"),
    ("    - Conv\n", 4, "overrides[0]", "expected a mapping"),
])
def test_bad_override_entries(tmp_path, entry, line, key, words):
    path = _yaml(tmp_path, f"name: m\nquantization:\n  overrides:\n{entry}")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert f"q.yaml:{line}" in msg and key in msg and words in msg, msg


def test_overrides_must_be_a_list(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_yaml(tmp_path, "quantization:\n  overrides:\n    match: Conv\n"))
    assert "q.yaml:2" in str(e.value) and "list of overrides" in str(e.value)


def test_config_values_parsed(tmp_path):
    cfg = load_config(_yaml(tmp_path, "quantization:\n  weight_bits: 4\n  int4_clipping: minmax\n  overrides:\n"
                                      "    - match: fc1\n      weight_bits: 8\n"
                                      "    - match: Gemm\n      activation_bits: 16\n"))
    assert cfg.weight_bits == 4 and cfg.int4_clipping == "minmax"
    assert [(o.match, o.weight_bits, o.activation_bits, o.line) for o in cfg.overrides] == [
        ("fc1", 8, None, 5), ("Gemm", None, 16, 7)]
    assert load_config(None).weight_bits == 8 and load_config(None).overrides == []


def _graph(tmp_path: Path, m):
    path = save(m, tmp_path / "m.onnx")
    return run_passes(import_onnx(str(path), {}, None)), str(path)


def test_override_resolution_later_wins(tmp_path):
    """Default from weight_bits; entries by op type or node name, applied in order."""
    g, path = _graph(tmp_path, tiny_cnn())  # nodes 'conv' (Conv) and 'fc' (Gemm)
    cfg = load_config(_yaml(tmp_path, "quantization:\n  weight_bits: 4\n"))
    assert layer_weight_bits(g, cfg, path) == {"conv": 4, "fc": 4}
    cfg = load_config(_yaml(tmp_path, "quantization:\n  overrides:\n    - match: Gemm\n      weight_bits: 4\n"))
    assert layer_weight_bits(g, cfg, path) == {"conv": 8, "fc": 4}
    cfg = load_config(_yaml(tmp_path, "quantization:\n  weight_bits: 4\n  overrides:\n"
                                      "    - match: Conv\n      weight_bits: 8\n"
                                      "    - match: conv\n      weight_bits: 4\n"
                                      "    - match: fc\n      activation_bits: 8\n"))
    assert layer_weight_bits(g, cfg, path) == {"conv": 4, "fc": 4}
    cfg = load_config(_yaml(tmp_path, "quantization:\n  overrides:\n    - match: FullyConnected\n"
                                      "      weight_bits: 4\n"))
    assert layer_weight_bits(g, cfg, path) == {"conv": 8, "fc": 4}


@pytest.mark.parametrize("match, words", [
    ("conv7", "matches nothing in the model"),
    ("MatMul", "matches nothing in the model"),
    ("relu", "Relu node, which has no weights"),
])
def test_override_matching_nothing_names_the_line(tmp_path, match, words):
    g, path = _graph(tmp_path, tiny_cnn())
    cfg = load_config(_yaml(tmp_path, "name: m\nquantization:\n  overrides:\n    - match: Conv\n      weight_bits: 4\n"
                                      f"    - match: {match}\n      weight_bits: 4\n"))
    with pytest.raises(ConfigError) as e:
        layer_weight_bits(g, cfg, path)
    msg = str(e.value)
    assert "q.yaml:6" in msg and "quantization.overrides[1].match" in msg and words in msg, msg
    assert "'conv'" in msg and "Gemm" in msg  # what would match


def test_override_error_from_the_cli_is_clean(tmp_path):
    from onnx_factory import run_cli
    path = save(tiny_mlp(), tmp_path / "mlp.onnx")
    cfg = _yaml(tmp_path, "quantization:\n  overrides:\n    - match: nosuchnode\n      weight_bits: 4\n")
    r = run_cli(["build", str(path), "--config", cfg, "--output", str(tmp_path / "gen")])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "q.yaml:3" in r.stderr and "nosuchnode" in r.stderr
    assert not (tmp_path / "gen").exists() or not any((tmp_path / "gen").iterdir())


# ---------------------------------------------------------------------- shared models --

KWS_FIRST = ("functional_1/re_lu_1/Relu;functional_1/batch_normalization_1/batchnorm/add_1;"
             "functional_1/batch_normalization_1/batchnorm/mul_1;functional_1/conv2d_1_1/Squeeze;"
             "functional_1/conv2d_1_1/BiasAdd;functional_1/batch_normalization_1/batchnorm/mul;"
             "functional_1/conv2d_1_1/convolution;functional_1/batch_normalization_1/batchnorm/sub1")
# model -> (first layer's ONNX node name, last layer's ONNX op type): the mixed build keeps both int8.
FIRST_LAST = {"mlperf_tiny_kws_dscnn": (KWS_FIRST, "Gemm"), "onnx_zoo_mnist8": ("Convolution28", "MatMul"),
              "digits_cnn_sklearn": ("/c1/Conv", "Gemm")}
VARIANTS = {
    "int8": "  weight_bits: 8\n",
    "int4": "  weight_bits: 4\n",
    "mixed": "  weight_bits: 4\n  overrides:\n    - match: '{first}'\n      weight_bits: 8\n"
             "    - match: {last}\n      weight_bits: 8\n",
}
# Test inputs used (None: all): accuracy and the C-vs-reference comparison.
ACC_SAMPLES = {"mlperf_tiny_kws_dscnn": None, "onnx_zoo_mnist8": 2000, "digits_cnn_sklearn": None}
C_SAMPLES = {"mlperf_tiny_kws_dscnn": 200, "onnx_zoo_mnist8": 300, "digits_cnn_sklearn": None}
# Accuracy floors: measured with min-max calibration and the default (mse) int4 clipping on the
# samples above, minus 0.01. Measured int4 / mixed (int8 in tests/test_models.py): KWS 0.9062 /
# 0.9100 (800 inputs), MNIST 0.9780 / 0.9800 (first 2000), digits 0.9926 / 0.9907 (540).
ACC_FLOOR = {
    ("mlperf_tiny_kws_dscnn", "int4"): 0.896, ("mlperf_tiny_kws_dscnn", "mixed"): 0.900,
    ("onnx_zoo_mnist8", "int4"): 0.968, ("onnx_zoo_mnist8", "mixed"): 0.970,
    ("digits_cnn_sklearn", "int4"): 0.982, ("digits_cnn_sklearn", "mixed"): 0.980,
}
_BUILDS = {}


def shared_build(model: str, variant: str, tmp_path_factory):
    """Build a shared model once per session with a precision variant: (result, out dir, tmp)."""
    from qnnc.build import build
    from shared_models import require
    key = (model, variant)
    if key not in _BUILDS:
        folder = require(model)
        tmp = tmp_path_factory.mktemp(f"int4_{model}_{variant}")
        first, last = FIRST_LAST[model]
        cfg = tmp / "model.yaml"
        cfg.write_text(f"name: m\ncalibration:\n  data: {folder / 'calibration.npz'}\n  method: minmax\n"
                       "quantization:\n" + VARIANTS[variant].format(first=first, last=last))
        result = build(str(folder / "model.onnx"), load_config(str(cfg)), str(tmp / "gen"), "m", progress=False)
        print(result.summary)
        _BUILDS[key] = (result, tmp / "gen", tmp)
    return _BUILDS[key]


def _test_data(model: str, n):
    from shared_models import require
    d = np.load(require(model) / "test.npz")
    return (d["x"], d["y"]) if n is None else (d["x"][:n], d["y"][:n])


def _weight_layers(qm):
    return [op for op in qm.ops for op in [op] + op.sub_ops if op.kind in ("conv", "depthwise_conv", "fully_connected")]


# MNIST (2000 inputs, ~25 s per variant) runs in the slow tier.
MODEL_PARAMS = [pytest.param(m, marks=pytest.mark.slow) if m == "onnx_zoo_mnist8" else m for m in sorted(FIRST_LAST)]


@pytest.mark.parametrize("variant", ["int4", "mixed"])
@pytest.mark.parametrize("model", MODEL_PARAMS)
def test_shared_model_int4_bit_exact_and_accurate(model, variant, tmp_path_factory):
    """Generated C (ASan+UBSan) equals the reference; accuracy stays above the measured floor."""
    from qnnc.emit.hostrun import compile_driver, run_driver
    from qnnc.reference.interpreter import quantize_input, run_int8
    result, out, tmp = shared_build(model, variant, tmp_path_factory)
    qm = result.compiled.model
    layers = _weight_layers(qm)
    s4 = [op.kernel.endswith("_s4") for op in layers]
    if variant == "int4":
        assert all(s4)
    else:  # first and last layers int8, all others int4
        assert s4 == [False] + [True] * (len(layers) - 2) + [False]
    kernels_copied = {p.stem for p in out.glob("qnnc_*.c")}
    assert {op.kernel for op in layers} <= kernels_copied

    xs, ys = _test_data(model, ACC_SAMPLES[model])
    q_in = quantize_input(qm, xs)
    ref = run_int8(qm, q_in).reshape(len(xs), -1)
    n = C_SAMPLES[model] or len(xs)
    exe = compile_driver(str(out), "m", str(tmp / "driver_asan"), sanitize=True)
    c_out = run_driver(exe, q_in[:n].reshape(n, -1), qm.output_tensor.size)
    assert int(np.sum(np.any(c_out != ref[:n], axis=1))) == 0
    acc = float(np.mean(ref.astype(np.int32).argmax(axis=1) == ys))
    print(f"{model} {variant}: accuracy {acc:.4f} on {len(xs)} test inputs, C bit-exact on {n}, "
          f"weights {qm.weight_bytes} B")
    assert acc >= ACC_FLOOR[(model, variant)]


@pytest.mark.parametrize("model", sorted(FIRST_LAST))
def test_shared_model_int4_flash_saving(model, tmp_path_factory):
    """Packed int4 weight arrays take < 0.6x the int8 ones (two weights per byte; ~0.5x), and
    the whole constant data (with int32 biases and per-channel multipliers/shifts) < 0.7x."""
    int8 = shared_build(model, "int8", tmp_path_factory)[0].compiled.model
    int4 = shared_build(model, "int4", tmp_path_factory)[0].compiled.model

    def filter_bytes(qm):
        return sum(op.consts["filter"].nbytes for op in _weight_layers(qm))

    print(f"{model}: weight arrays {filter_bytes(int8)} -> {filter_bytes(int4)} B, "
          f"all constants {int8.weight_bytes} -> {int4.weight_bytes} B")
    assert filter_bytes(int4) < 0.6 * filter_bytes(int8)
    assert int4.weight_bytes < 0.7 * int8.weight_bytes


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["m3", pytest.param("m4", marks=pytest.mark.slow),
                                  pytest.param("m55", marks=pytest.mark.slow)])
def test_mixed_kws_on_cortex_m_in_qemu(core, tmp_path_factory):
    """The mixed KWS build (int4 layers next to int8 ones, whose kernels take their DSP/Helium
    paths on M4/M55) on an emulated core: 3 test inputs bit-exact with the reference."""
    H = harness()
    from benchmarks import modelbench as MB
    from qnnc.reference.interpreter import quantize_input
    result, out, tmp = shared_build("mlperf_tiny_kws_dscnn", "mixed", tmp_path_factory)
    assert MB.NAME == "m"
    qm = result.compiled.model
    xs, _ = _test_data("mlperf_tiny_kws_dscnn", 3)
    r = MB.bench_generated(result, out, quantize_input(qm, xs), H.MACHINES[core], tmp / core, "kws_mixed",
                           hist=False)
    print(f"KWS mixed int4/int8 on {core}: {r.instructions:,} instructions, "
          f"{r.n_inputs - r.mismatches}/{r.n_inputs} bit-exact")
    assert r.bit_exact and r.n_inputs == 3


# ------------------------------------------------------------------- auto precision --


def test_auto_precision_config_errors(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_yaml(tmp_path, "quantization:\n  weight_bits: 4\n  auto_precision:\n    tolerance: 0.01\n"))
    assert "q.yaml:2" in str(e.value) and "auto_precision chooses" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(_yaml(tmp_path, "quantization:\n  auto_precision:\n    tolerance: 1.5\n"))
    assert "q.yaml:3" in str(e.value) and "auto_precision.tolerance" in str(e.value)
    assert load_config(_yaml(tmp_path, "quantization:\n  auto_precision: {}\n")).auto_precision == 0.005


def test_auto_precision_keeps_accuracy_within_tolerance(tmp_path):
    """Labels = the all-int8 model's own predictions, so its accuracy is 1.0: with tolerance 0 the
    chosen plan must still reach 1.0 on the held-aside quarter it was judged on (checked
    independently here); with a huge tolerance every layer goes int4."""
    from qnnc.pipeline import compile_model
    from qnnc.reference.interpreter import quantize_input, run_int8
    model = save(tiny_mlp(seed=3, in_features=12, hidden=16, classes=6), tmp_path / "mlp.onnx")
    xs = np.random.default_rng(5).standard_normal((300, 12)).astype(np.float32)
    held = slice(225, 300)  # the last quarter: judges the search, not used for ranges

    def compiled(quant: str, ys=None, x=xs):
        data = tmp_path / "cal.npz"
        np.savez(data, x=x, **({} if ys is None else {"y": ys}))
        cfg = load_config(_yaml(tmp_path, f"name: m\ncalibration:\n  data: {data}\nquantization:\n{quant}"))
        return compile_model(str(model), cfg, "m", progress=False)

    def predictions(qm):
        return run_int8(qm, quantize_input(qm, xs)).reshape(len(xs), -1).astype(np.int32).argmax(axis=1)

    labels = predictions(compiled("  weight_bits: 8\n", x=xs[:225]).model)  # ranges as the search's
    strict = compiled("  auto_precision:\n    tolerance: 0.0\n", labels)
    assert np.mean(predictions(strict.model)[held] == labels[held]) == 1.0
    assert any(n.startswith("auto precision:") for n in strict.notes)
    assert any("judged every plan on 75 held-aside samples" in n and "the other 225" in n for n in strict.notes)
    print("\n".join(strict.notes))
    loose = compiled("  auto_precision:\n    tolerance: 0.9\n", labels)
    assert all(op.kernel.endswith("_s4") for op in _weight_layers(loose.model))
    with pytest.raises(ConfigError) as e:
        compiled("  auto_precision:\n    tolerance: 0.01\n")  # no labels
    assert "labelled calibration data" in str(e.value) and "q.yaml:5" in str(e.value)


def test_auto_precision_chooses_activation_bits_from_int16(tmp_path):
    """With ``activation_bits: 16`` the search first moves layers to int8 activations (less RAM),
    then to int4 weights (less flash), staying within the tolerance of the all-int16 model."""
    from qnnc.build import build
    from qnnc.reference.interpreter import quantize_input, run_int8
    model = save(tiny_mlp(seed=4, in_features=12, hidden=16, classes=6), tmp_path / "mlp.onnx")
    xs = np.random.default_rng(6).standard_normal((300, 12)).astype(np.float32)

    def built(quant: str, ys=None, tag="b", x=xs):
        data = tmp_path / f"cal_{tag}.npz"
        np.savez(data, x=x, **({} if ys is None else {"y": ys}))
        cfg = load_config(_yaml(tmp_path, f"name: m\ncalibration:\n  data: {data}\nquantization:\n{quant}"))
        return build(str(model), cfg, str(tmp_path / f"gen_{tag}"), "m", progress=False)

    def predictions(qm):
        return run_int8(qm, quantize_input(qm, xs)).reshape(len(xs), -1).astype(np.int32).argmax(axis=1)

    held = slice(225, 300)  # the last quarter judges the search; ranges come from the rest
    all16 = built("  activation_bits: 16\n", tag="all16", x=xs[:225])  # ranges as the search's
    labels = predictions(all16.compiled.model)  # the all-int16 model scores 1.0 on its own predictions
    strict = built("  activation_bits: 16\n  auto_precision:\n    tolerance: 0.0\n", labels, "strict")
    assert np.mean(predictions(strict.compiled.model)[held] == labels[held]) == 1.0
    assert any("int8 activations" in n for n in strict.compiled.notes)
    loose = built("  activation_bits: 16\n  auto_precision:\n    tolerance: 0.9\n", labels, "loose")
    layers = _weight_layers(loose.compiled.model)
    assert all(op.kernel.endswith("_s4") for op in layers)  # int4 weights run on int8 activations
    assert loose.report["arena_bytes"] < all16.report["arena_bytes"]
    print(f"arena all int16 {all16.report['arena_bytes']} B, auto (tolerance 0.9) {loose.report['arena_bytes']} B")
