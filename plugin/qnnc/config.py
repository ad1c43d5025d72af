"""The YAML quantization config: schema, validation with line numbers, typed result.

Schema (every key optional; unknown keys are errors)::

    name: kws                  # C symbol prefix, a C identifier (default: model file stem)
    layout: model              # API tensor layout: model (as in the ONNX file) | nhwc
    input_shape:               # pin dynamic input dims: {input name: [d0, d1, ...]}
      input: [1, 1, 49, 10]
    calibration:
      data: calibration.npz    # .npz or .npy, relative to this file
      key: x                   # array name inside an .npz (default: 'x', else the input's name)
      method: minmax           # minmax | percentile
      percentile: 99.99        # percentile method: keep this share of values inside the range
      max_samples: 1000        # use at most this many samples
    quantization:
      weights: per_channel     # per_channel | per_tensor
    execution:
      patch_layers: auto       # run the first layers band by band (MCUNetV2-style): auto | N
      patches: 4               # number of horizontal bands (default: the count with the smallest arena)
    ram_budget: 20 KiB         # fail the build if the arena needs more (bytes, K/KiB/M/MiB)
    flash_budget: 64 KiB       # fail the build if weights and tables need more
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

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class DataRef:
    """A data file named in the config, resolved to an absolute path."""

    path: str
    key: Optional[str] = None
    count: Optional[int] = None
    yaml_key: str = ""
    line: Optional[int] = None


@dataclass
class Config:
    """The validated config."""

    source: Optional[str] = None
    name: Optional[str] = None
    layout: str = "model"
    input_shape: Dict[str, List[int]] = field(default_factory=dict)
    calibration: Optional[DataRef] = None
    method: str = "minmax"
    percentile: float = 99.99
    max_samples: Optional[int] = None
    weights: str = "per_channel"
    test_data: Optional[DataRef] = None
    patch_layers: Optional[object] = None  # None (off), "auto" or a layer count
    patches: Optional[int] = None  # bands; None = chosen for the smallest arena
    ram_budget: Optional[int] = None    # bytes of arena allowed; None = no limit
    flash_budget: Optional[int] = None  # bytes of constant data (weights, tables) allowed
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
        "method": ("minmax", "percentile"),
        "percentile": float,
        "max_samples": int,
    },
    "quantization": {
        "weights": ("per_channel", "per_tensor"),
    },
    "test_data": {
        "data": str,
        "key": str,
        "count": int,
    },
    "execution": {
        "patch_layers": "auto_or_int",
        "patches": int,
    },
    "ram_budget": "bytes",
    "flash_budget": "bytes",
}


def _to_python(node: yaml.Node, path: str, lines: Dict[str, int], file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise ConfigError("mapping keys must be plain names", file=file, line=k.start_mark.line + 1)
            key = k.value
            if key in out:
                raise ConfigError(f"duplicate key '{key}'", file=file, line=k.start_mark.line + 1)
            sub = f"{path}.{key}" if path else key
            lines[sub] = k.start_mark.line + 1
            out[key] = _to_python(v, sub, lines, file)
            lines[sub] = k.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, f"{path}[{i}]", lines, file) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return "one of " + ", ".join(repr(x) for x in t)
    return {str: "a string", int: "an integer", float: "a number"}.get(t, str(t))


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
    if schema == "bytes":
        if parse_bytes(value) is None:
            raise ConfigError(f"expected a size in bytes such as 20000, '20 KiB' or '1 MiB', got {value!r}",
                              file=file, key=path, line=line)
        return
    if schema == "shape_map":
        if not isinstance(value, dict) or not all(
                isinstance(v, list) and v and all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                                  for d in v) for v in value.values()):
            raise ConfigError("expected a mapping of input name to a list of positive integers, "
                              "e.g. {input: [1, 3, 32, 32]}", file=file, key=path, line=line)
        return
    if isinstance(schema, tuple):
        if value not in schema:
            raise ConfigError(f"expected {_type_name(schema)}, got {value!r}", file=file, key=path, line=line)
        return
    ok = isinstance(value, schema) and not isinstance(value, bool)
    if schema is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(f"expected {_type_name(schema)}, got {value!r}", file=file, key=path, line=line)


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


def load_config(path: Optional[str]) -> Config:
    """Read and validate a YAML config; ``None`` gives the defaults."""
    if path is None:
        return Config()
    file = path
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read the config: {e.strerror}", file=file) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise ConfigError(f"invalid YAML: {e.problem}", file=file, line=line) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=file) from None
    cfg = Config(source=os.path.abspath(path))
    if root is None:
        return cfg
    lines: Dict[str, int] = {}
    data = _to_python(root, "", lines, file)
    _check(data, _SCHEMA, "", lines, file)
    cfg.lines = lines
    base = os.path.dirname(os.path.abspath(path))
    if "name" in data:
        if not _IDENT.match(data["name"]):
            raise ConfigError(f"expected a C identifier (letters, digits, _), got {data['name']!r}",
                              file=file, key="name", line=lines.get("name"))
        cfg.name = data["name"]
    cfg.layout = data.get("layout", "model")
    cfg.input_shape = data.get("input_shape", {})
    cal = data.get("calibration")
    if cal is not None:
        cfg.calibration = _data_ref(cal, "calibration", base, lines, file)
        cfg.method = cal.get("method", "minmax")
        cfg.percentile = float(cal.get("percentile", 99.99))
        if not 50.0 < cfg.percentile <= 100.0:
            raise ConfigError(f"expected a percentile in (50, 100], got {cfg.percentile}", file=file,
                              key="calibration.percentile", line=lines.get("calibration.percentile"))
        cfg.max_samples = cal.get("max_samples")
        if cfg.max_samples is not None and cfg.max_samples <= 0:
            raise ConfigError("expected a positive integer", file=file, key="calibration.max_samples",
                              line=lines.get("calibration.max_samples"))
    q = data.get("quantization") or {}
    cfg.weights = q.get("weights", "per_channel")
    ex = data.get("execution") or {}
    cfg.patch_layers = ex.get("patch_layers")
    cfg.patches = ex.get("patches")
    if cfg.patches is not None and cfg.patches < 1:
        raise ConfigError(f"expected a positive number of patches, got {cfg.patches}", file=file,
                          key="execution.patches", line=lines.get("execution.patches"))
    if "ram_budget" in data:
        cfg.ram_budget = parse_bytes(data["ram_budget"])
    if "flash_budget" in data:
        cfg.flash_budget = parse_bytes(data["flash_budget"])
    td = data.get("test_data")
    if td is not None:
        cfg.test_data = _data_ref(td, "test_data", base, lines, file)
    return cfg


def describe_line(cfg: Config, key: str) -> Tuple[Optional[str], Optional[int]]:
    """(file, line) of a key, for error messages."""
    return cfg.source, cfg.lines.get(key)
