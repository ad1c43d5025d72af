"""The YAML quantization config: schema, validation with line numbers, typed result.

Schema (every key optional; unknown keys are errors)::

    name: kws                  # C symbol prefix, a C identifier (default: model file stem)
    layout: model              # API tensor layout: model (as in the ONNX file) | nhwc
    input_shape:               # pin dynamic input dims: {input name: [d0, d1, ...]}
      input: [1, 1, 49, 10]
    calibration:
      data: calibration.npz    # .npz or .npy, relative to this file
      key: x                   # array name inside an .npz (default: 'x', else the input's name)
      method: auto             # auto (default: the ranges, equalization and bias correction with the best
                               # output SQNR on held-aside samples) | minmax | percentile | mse | kl |
                               # batchnorm (no data: ranges from the model's BatchNormalization statistics)
      percentile: 99.99        # percentile method: keep this share of values inside the range
      moving_average: 0.9      # minmax only: EMA of per-sample min/max with this momentum in [0, 1)
      max_samples: 1000        # use at most this many samples
      random_inputs: false     # true (instead of data): calibrate on random N(0,1) inputs, for sizing and
                               # coverage checks only; firmware builds refuse a config with neither
    quantization:
      weights: per_channel     # per_channel | per_tensor
      equalization: false      # cross-layer equalization of consecutive Conv/FC weight ranges
      bias_correction: false   # correct the mean output shift int8 weights introduce
      activation_bits: 8       # 8 | 16 (int16 activations with int8 weights, TFLite's 16x8 scheme)
      recurrent_activation_bits: 16  # 16 | 8: LSTM/GRU layers and the layers after them (int16 keeps the
                               # fed-back hidden state accurate; 8: int8 throughout)
      weight_bits: 8           # 8 | 4: Conv/depthwise/FC weights as int8, or int4 packed two per byte
      int4_clipping: mse       # int4 weight range per channel: mse (least squared error) | minmax
      rounding: auto           # conv/FC requantization: auto (half_even for QDQ/QOperator models, else
                               # tflite) | tflite (TFLite Micro double rounding) | half_even (onnxruntime)
      overrides:               # per-layer precision; later entries win (per key)
        - match: conv2d_3      # an ONNX node name, or an ONNX op type (Conv, Gemm, MatMul, ...)
          weight_bits: 4       # 8 | 4
          activation_bits: 16  # 8 | 16
      auto_precision:          # choose per-layer bits: int16 -> int8 activations (when activation_bits
                               # is 16), then int8 -> int4 weights (needs labels 'y' in calibration.data)
        tolerance: 0.005       # accuracy drop allowed vs all-int8 weights, on held-aside calibration data
    execution:
      patch_layers: auto       # run the first layers band by band (MCUNetV2-style): auto | N
      patches: 4               # number of horizontal bands (default: the count with the smallest arena)
      input_in_arena: true     # false: read the int8 input from the caller's buffer (no copy, no float API)
      wide_weights: auto       # fully connected and conv weights as int16 on Cortex-M4/M7/M33 (DSP path):
                               # fewer cycles, twice their flash there. auto (default): when the build system
                               # names a DSP core and the board's flash, while constant data stays within half
                               # of it; true: always (within flash_budget); false: never
    ram_budget: 20 KiB         # fail the build if the arena needs more (bytes, K/KiB/M/MiB)
    flash_budget: 64 KiB       # fail the build if weights and tables need more
    target: m4                 # core the report's expected instructions are for: m0 | m0plus | m3 | m4 |
                               # m7 | m33 | m55 | m85 | riscv (default: m4, assumed and said so)
    test_data:                 # embed inputs + reference outputs (<name>_test_data.c)
      data: test.npz
      key: x
      count: 10
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import yaml

from .errors import ConfigError
from .frontend.data import DataRef
from .plan.cost_model import CORES
from .quantize.precision import Override

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Values a config may expand to through YAML aliases (a real config has a few dozen).
MAX_YAML_VALUES = 10000
MAX_DIM = (1 << 31) - 1


def c_name_problem(name: object) -> Optional[str]:
    """Why ``name`` cannot prefix the generated C symbols, or None if it can."""
    if not isinstance(name, str) or not _IDENT.match(name):
        return f"expected a C identifier (letters, digits, _; not starting with a digit), got {name!r}"
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        return f"{name!r} is reserved in C (names starting with '__' or '_' and a capital letter)"
    if name.lower().startswith("qnnc"):
        return f"{name!r} is reserved: names starting with 'qnnc' belong to the kernel library"
    if len(name) > 40:
        return f"{name!r} is {len(name)} characters; use at most 40 (symbols get suffixes)"
    return None


class InputShapes(dict):
    """``input_shape`` from the config: {input name: dims}, plus the YAML line of each entry."""

    def __init__(self, shapes=(), lines: Optional[Dict[str, int]] = None):
        super().__init__(shapes)
        self.lines: Dict[str, int] = dict(lines or {})


@dataclass
class Config:
    """The validated config."""

    source: Optional[str] = None
    name: Optional[str] = None
    layout: str = "model"
    input_shape: Dict[str, List[int]] = field(default_factory=dict)
    calibration: Optional[DataRef] = None
    method: str = "auto"  # calibration.method; auto falls back to minmax without real data (see pipeline)
    percentile: float = 99.99
    moving_average: Optional[float] = None
    max_samples: Optional[int] = None
    random_calibration: bool = False  # calibration.random_inputs: the explicit opt-in to random inputs
    weights: str = "per_channel"
    equalization: bool = False
    bias_correction: bool = False
    activation_bits: int = 8  # 8: int8 activations; 16: int16 activations, int8 weights (16x8 scheme)
    recurrent_activation_bits: int = 16  # LSTM / GRU layers and their successors (quantize/recurrent_precision.py)
    weight_bits: int = 8      # 8 | 4 for Conv/depthwise/FC weights (per-layer: overrides)
    int4_clipping: str = "mse"  # int4 weight range: "mse" search or "minmax"
    overrides: List[Override] = field(default_factory=list)
    auto_precision: Optional[float] = None  # tolerance of the automatic int4/int8 search; None = off
    rounding: str = "auto"    # conv/FC requantization: auto (half_even for QDQ imports) | tflite | half_even
    test_data: Optional[DataRef] = None
    patch_layers: Optional[object] = None  # None (off), "auto" or a layer count
    patches: Optional[int] = None  # bands; None = chosen for the smallest arena
    input_in_arena: bool = True    # False: kernels read the int8 input from the caller's buffer
    wide_weights: object = "auto"  # True / False / "auto": int16 FC/conv weights, DSP path (plan/wide_weights.py)
    ram_budget: Optional[int] = None    # bytes of arena allowed; None = no limit
    flash_budget: Optional[int] = None  # bytes of constant data (weights, tables) allowed
    target: Optional[str] = None  # core of the expected-instruction figures (plan.cost_model.CORES); None = assumed
    lines: Dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> Optional[int]:
        return self.lines.get(key)

    def input_files(self) -> List[str]:
        """Every file this config makes the build read (for dependency tracking)."""
        files = [self.source] if self.source else []
        for ref in (self.calibration, self.test_data):
            if ref is not None:
                files.append(ref.path)
        return files


# key -> expected python type(s) / nested schema
_SCHEMA: Dict[str, Any] = {
    "name": str,
    "layout": ("model", "nhwc"),
    "input_shape": "shape_map",
    "calibration": {
        "data": str,
        "key": str,
        "method": ("auto", "minmax", "percentile", "mse", "kl", "batchnorm"),
        "percentile": float,
        "moving_average": float,
        "max_samples": int,
        "random_inputs": bool,
    },
    "quantization": {
        "weights": ("per_channel", "per_tensor"),
        "equalization": bool,
        "bias_correction": bool,
        "activation_bits": (8, 16),
        "recurrent_activation_bits": (8, 16),
        "weight_bits": "weight_bits",
        "int4_clipping": ("mse", "minmax"),
        "overrides": "overrides",
        "auto_precision": {"tolerance": float},
        "rounding": ("auto", "tflite", "half_even"),
    },
    "test_data": {
        "data": str,
        "key": str,
        "count": int,
    },
    "execution": {
        "patch_layers": "auto_or_int",
        "patches": int,
        "input_in_arena": bool,
        "wide_weights": "bool_or_auto",
    },
    "ram_budget": "bytes",
    "flash_budget": "bytes",
    "target": tuple(CORES),
}


class _Walk:
    """State of one YAML tree walk: aliases on the current path and the values seen so far."""

    def __init__(self, file: str):
        self.file = file
        self.active: set = set()
        self.count = 0


def _to_python(node: yaml.Node, path: str, lines: Dict[str, int], file: str, walk: Optional[_Walk] = None) -> Any:
    """The YAML node tree as Python values, recording the line of every key path."""
    walk = walk or _Walk(file)
    line = node.start_mark.line + 1
    walk.count += 1
    if walk.count > MAX_YAML_VALUES:
        raise ConfigError(f"the document expands to more than {MAX_YAML_VALUES} values through aliases "
                          "(&anchor / *alias); a qnnc config is small, write it out plainly",
                          file=file, line=line)
    if id(node) in walk.active:
        raise ConfigError("an alias (*name) refers to a value that contains it (recursive alias)",
                          file=file, line=line)
    lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        walk.active.add(id(node))
        out = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise ConfigError("mapping keys must be plain names", file=file, line=k.start_mark.line + 1)
            key = k.value
            if key in out:
                raise ConfigError(f"duplicate key '{key}'", file=file, line=k.start_mark.line + 1)
            sub = f"{path}.{key}" if path else key
            lines[sub] = k.start_mark.line + 1
            out[key] = _to_python(v, sub, lines, file, walk)
            lines[sub] = k.start_mark.line + 1
        walk.active.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        walk.active.add(id(node))
        out_list = [_to_python(v, f"{path}[{i}]", lines, file, walk) for i, v in enumerate(node.value)]
        walk.active.discard(id(node))
        return out_list
    try:
        return yaml.SafeLoader("").construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid value: {getattr(e, 'problem', None) or e}", file=file, key=path or None,
                          line=line) from None


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return "one of " + ", ".join(repr(x) for x in t)
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(t, str(t))


def _check(value: Any, schema: Any, path: str, lines: Dict[str, int], file: str) -> None:
    line = lines.get(path)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping with keys {sorted(schema)}, got {value!r}",
                              file=file, key=path, line=line)
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            if k not in schema:
                raise ConfigError(f"unknown key '{k}'; expected one of: {', '.join(sorted(schema))}",
                                  file=file, key=sub, line=lines.get(sub))
            _check(v, schema[k], sub, lines, file)
        return
    if schema == "auto_or_int":
        if value != "auto" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 2):
            raise ConfigError(f"expected 'auto' or a number of layers >= 2, got {value!r}", file=file, key=path,
                              line=line)
        return
    if schema == "bool_or_auto":
        if value != "auto" and not isinstance(value, bool):
            raise ConfigError(f"expected true, false or 'auto', got {value!r}", file=file, key=path, line=line)
        return
    if schema == "bytes":
        if parse_bytes(value) is None:
            raise ConfigError(f"expected a size in bytes such as 20000, '20 KiB' or '1 MiB', got {value!r}",
                              file=file, key=path, line=line)
        return
    if schema == "shape_map":
        _check_shape_map(value, path, lines, file)
        return
    if schema == "weight_bits":
        _check_bits(value, (8, 4), path, lines, file)
        return
    if schema == "overrides":
        _check_overrides(value, path, lines, file)
        return
    if isinstance(schema, tuple):
        if value not in schema:
            raise ConfigError(f"expected {_type_name(schema)}, got {value!r}", file=file, key=path, line=line)
        return
    ok = isinstance(value, schema) and (schema is bool or not isinstance(value, bool))
    if schema is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(f"expected {_type_name(schema)}, got {value!r}", file=file, key=path, line=line)


def _check_shape_map(value: Any, path: str, lines: Dict[str, int], file: str) -> None:
    """``{input name: [positive dims]}``; errors name the entry and its line."""
    example = "e.g. {input: [1, 3, 32, 32]}"
    if not isinstance(value, dict):
        raise ConfigError(f"expected a mapping of input name to a list of positive integers, {example}; got "
                          f"{value!r}", file=file, key=path, line=lines.get(path))
    for name, dims in value.items():
        sub = f"{path}.{name}"
        ok = isinstance(dims, list) and dims and all(
            isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_DIM for d in dims)
        if not ok:
            raise ConfigError(f"expected a list of positive integers (each at most {MAX_DIM}), {example}; got "
                              f"{dims!r}", file=file, key=sub, line=lines.get(sub))


def _check_bits(value: Any, allowed: Tuple[int, ...], path: str, lines: Dict[str, int], file: str) -> None:
    """An integer bit width among ``allowed`` (not a bool, not 4.0)."""
    if not (isinstance(value, int) and not isinstance(value, bool) and value in allowed):
        raise ConfigError(f"expected {' or '.join(str(a) for a in allowed)}, got {value!r}", file=file, key=path,
                          line=lines.get(path))


_OVERRIDE_KEYS = {"match": str, "weight_bits": (8, 4), "activation_bits": (8, 16)}


def _check_overrides(value: Any, path: str, lines: Dict[str, int], file: str) -> None:
    """A list of ``{match, weight_bits, activation_bits}`` mappings; errors name the entry's line."""
    example = "e.g. [{match: Conv, weight_bits: 4}]"
    if not isinstance(value, list):
        raise ConfigError(f"expected a list of overrides, {example}; got {value!r}", file=file, key=path,
                          line=lines.get(path))
    for i, entry in enumerate(value):
        sub = f"{path}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"expected a mapping with 'match' and 'weight_bits' and/or 'activation_bits', "
                              f"{example}; got {entry!r}", file=file, key=sub, line=lines.get(sub))
        for k, v in entry.items():
            key = f"{sub}.{k}"
            if k not in _OVERRIDE_KEYS:
                raise ConfigError(f"unknown key '{k}'; expected one of: {', '.join(sorted(_OVERRIDE_KEYS))}",
                                  file=file, key=key, line=lines.get(key))
            if k == "match":
                if not isinstance(v, str) or not v.strip():
                    raise ConfigError(f"expected an ONNX node name or op type (a non-empty string), got {v!r}",
                                      file=file, key=key, line=lines.get(key))
            else:
                _check_bits(v, _OVERRIDE_KEYS[k], key, lines, file)
        if "match" not in entry:
            raise ConfigError("missing 'match' (an ONNX node name or op type such as Conv)", file=file, key=sub,
                              line=lines.get(sub))
        if "weight_bits" not in entry and "activation_bits" not in entry:
            raise ConfigError("an override needs 'weight_bits' and/or 'activation_bits'", file=file, key=sub,
                              line=lines.get(sub))


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20}


def parse_bytes(value: Any) -> Optional[int]:
    """20000, '20K', '20 KiB', '1 MiB' -> bytes (binary units); None if not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        if m and m.group(2).lower() in _UNITS:
            n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
            return n if n > 0 else None
    return None


def _data_ref(section: Dict[str, Any], key: str, base: str, lines: Dict[str, int], file: str) -> DataRef:
    if "data" not in section:
        raise ConfigError("missing 'data' (path of an .npz or .npy file)", file=file, key=key,
                          line=lines.get(key))
    path = os.path.normpath(os.path.join(base, section["data"]))
    count = section.get("count")
    if count is not None and count <= 0:
        raise ConfigError(f"expected a positive integer, got {count}", file=file, key=f"{key}.count",
                          line=lines.get(f"{key}.count"))
    return DataRef(path=path, key=section.get("key"), count=count, yaml_key=f"{key}.data",
                   line=lines.get(f"{key}.data"))


def _read_text(path: str) -> str:
    """The config file as text; unreadable or non-UTF-8 files are config errors."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read the config: {e.strerror or e}", file=path) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"the config is not UTF-8 text (byte 0x{raw[e.start]:02x}); save it as UTF-8",
                          file=path, line=line) from None


def _compose(text: str, file: str) -> Optional[yaml.Node]:
    """Parse YAML into a node tree; syntax errors name the line, column and what the parser expected."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" (column {mark.column + 1})" if mark else ""
        msg = f"invalid YAML{where}: {e.problem or e}"
        if e.context and e.context_mark:
            msg += f" ({e.context} at line {e.context_mark.line + 1})"
        if "\t" in str(e.problem) or "\\t" in str(e.problem):
            msg += "; YAML does not allow tab characters for indentation, use spaces"
        raise ConfigError(msg, file=file, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=file) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=file) from None


def load_config(path: Optional[str]) -> Config:
    """Read and validate a YAML config; ``None`` gives the defaults."""
    if path is None:
        return Config()
    file = path
    root = _compose(_read_text(path), file)
    cfg = Config(source=os.path.abspath(path))
    if root is None:
        return cfg
    lines: Dict[str, int] = {}
    try:
        data = _to_python(root, "", lines, file)
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=file) from None
    _check(data, _SCHEMA, "", lines, file)
    cfg.lines = lines
    base = os.path.dirname(os.path.abspath(path))
    if "name" in data:
        problem = c_name_problem(data["name"])
        if problem:
            raise ConfigError(problem, file=file, key="name", line=lines.get("name"))
        cfg.name = data["name"]
    cfg.layout = data.get("layout", "model")
    shapes = data.get("input_shape") or {}
    cfg.input_shape = InputShapes(shapes, {k: lines.get(f"input_shape.{k}") for k in shapes})
    cal = data.get("calibration")
    if cal is not None and cal.get("random_inputs") is False:  # the default, written out
        cal = {k: v for k, v in cal.items() if k != "random_inputs"} or None
    if cal is not None and cal.get("random_inputs"):
        if "data" in cal:
            raise ConfigError("random_inputs: true and data exclude each other: remove random_inputs to calibrate "
                              "on the data", file=file, key="calibration.random_inputs",
                              line=lines.get("calibration.random_inputs"))
        cfg.random_calibration = True
        cal = {k: v for k, v in cal.items() if k != "random_inputs"}
        if cal:
            raise ConfigError(f"calibration.{sorted(cal)[0]} needs calibration data; random_inputs takes no other "
                              "calibration setting", file=file, key=f"calibration.{sorted(cal)[0]}",
                              line=lines.get(f"calibration.{sorted(cal)[0]}"))
        cal = None
    if cal is not None and cal.get("method") == "batchnorm":  # data-free (quantize/calibrate_batchnorm.py)
        others = sorted(k for k in cal if k != "method")
        if others:
            raise ConfigError(f"method batchnorm is data-free: it takes no calibration.{others[0]} (remove it, or "
                              "choose another method to calibrate on data)", file=file,
                              key=f"calibration.{others[0]}", line=lines.get(f"calibration.{others[0]}"))
        cfg.method, cal = "batchnorm", None
    if cal is not None:
        cfg.calibration = _data_ref(cal, "calibration", base, lines, file)
        # moving_average is a min-max setting: given without a method it selects minmax, not auto
        cfg.method = cal.get("method", "minmax" if "moving_average" in cal else "auto")
        cfg.percentile = float(cal.get("percentile", 99.99))
        if not 50.0 < cfg.percentile <= 100.0:
            raise ConfigError(f"expected a percentile in (50, 100], got {cfg.percentile}", file=file,
                              key="calibration.percentile", line=lines.get("calibration.percentile"))
        cfg.max_samples = cal.get("max_samples")
        if cfg.max_samples is not None and cfg.max_samples <= 0:
            raise ConfigError("expected a positive integer", file=file, key="calibration.max_samples",
                              line=lines.get("calibration.max_samples"))
        if "moving_average" in cal:
            cfg.moving_average = float(cal["moving_average"])
            if not 0.0 <= cfg.moving_average < 1.0:
                raise ConfigError(f"expected a momentum in [0, 1), got {cfg.moving_average}", file=file,
                                  key="calibration.moving_average", line=lines.get("calibration.moving_average"))
            if cfg.method != "minmax":
                raise ConfigError(f"moving_average applies to method minmax only (method is {cfg.method!r})",
                                  file=file, key="calibration.moving_average",
                                  line=lines.get("calibration.moving_average"))
    q = data.get("quantization") or {}
    cfg.weights = q.get("weights", "per_channel")
    cfg.equalization = q.get("equalization", False)
    cfg.bias_correction = q.get("bias_correction", False)
    cfg.activation_bits = int(q.get("activation_bits", 8))
    cfg.recurrent_activation_bits = int(q.get("recurrent_activation_bits", 16))
    cfg.weight_bits = q.get("weight_bits", 8)
    cfg.int4_clipping = q.get("int4_clipping", "mse")
    cfg.rounding = q.get("rounding", "auto")
    cfg.overrides = [Override(match=o["match"], weight_bits=o.get("weight_bits"),
                              activation_bits=o.get("activation_bits"),
                              line=lines.get(f"quantization.overrides[{i}]"))
                     for i, o in enumerate(q.get("overrides") or [])]
    if "auto_precision" in q:
        auto = q["auto_precision"] or {}
        cfg.auto_precision = float(auto.get("tolerance", 0.005))
        if not 0.0 <= cfg.auto_precision < 1.0:
            raise ConfigError(f"expected an accuracy drop in [0, 1), got {cfg.auto_precision}", file=file,
                              key="quantization.auto_precision.tolerance",
                              line=lines.get("quantization.auto_precision.tolerance"))
        if cfg.weight_bits != 8:
            raise ConfigError("auto_precision chooses each layer's weight bits; remove weight_bits (pin single "
                              "layers with overrides instead)", file=file, key="quantization.weight_bits",
                              line=lines.get("quantization.weight_bits"))
    ex = data.get("execution") or {}
    cfg.patch_layers = ex.get("patch_layers")
    cfg.patches = ex.get("patches")
    cfg.input_in_arena = ex.get("input_in_arena", True)
    cfg.wide_weights = ex.get("wide_weights", "auto")
    if cfg.patches is not None and cfg.patches < 1:
        raise ConfigError(f"expected a positive number of patches, got {cfg.patches}", file=file,
                          key="execution.patches", line=lines.get("execution.patches"))
    if "ram_budget" in data:
        cfg.ram_budget = parse_bytes(data["ram_budget"])
    if "flash_budget" in data:
        cfg.flash_budget = parse_bytes(data["flash_budget"])
    cfg.target = data.get("target")
    td = data.get("test_data")
    if td is not None:
        cfg.test_data = _data_ref(td, "test_data", base, lines, file)
    return cfg


def describe_line(cfg: Config, key: str) -> Tuple[Optional[str], Optional[int]]:
    """(file, line) of a key, for error messages."""
    return cfg.source, cfg.lines.get(key)
