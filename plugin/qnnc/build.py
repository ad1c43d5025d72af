"""``qnnc build``: the whole pipeline, writing the output folder atomically.

All files are generated in memory first; then they go to a temporary folder next to the
output and are moved in one by one, skipping files whose content is unchanged (so build
systems see no change). Nothing is written if any stage fails.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from . import __version__
from .budget import check_budgets
from .checksum import layer_checksums
from .config import Config, c_name_problem
from .data import load_samples
from .emit import emit_c, emit_test_data
from .errors import ConfigError, ModelError, OutputError
from .pipeline import Compiled, compile_model
from .patches import apply_patches
from .plan import MemoryPlan, plan_memory
from .reference.interpreter import quantize_input, run_int8
from .report import build_report, summary_line
from .report_pages import html_report, markdown_report
from .runtime import runtime_files

MANIFEST = ".qnnc_manifest"


@dataclass
class BuildResult:
    """Everything a build produced."""

    compiled: Compiled
    plan: MemoryPlan
    files: Dict[str, str]
    report: Dict
    summary: str


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def input_files(model_path: str, cfg: Config) -> List[str]:
    """Absolute paths of every file the build reads (model, config, data)."""
    return [os.path.abspath(model_path)] + [os.path.abspath(p) for p in cfg.input_files()]


def provenance(model_path: str, cfg: Config) -> Dict[str, str]:
    files = {os.path.basename(p): _sha256(p)[:16] for p in input_files(model_path, cfg) if os.path.isfile(p)}
    h = hashlib.sha256(__version__.encode())
    for k in sorted(files):
        h.update(k.encode() + b"=" + files[k].encode())
    return {"qnnc": __version__, "inputs_sha256": h.hexdigest()[:16], "files": files}


def generate(model_path: str, cfg: Config, name: str, runtime: bool = True, progress: bool = True,
             ram_budget: Optional[int] = None, flash_budget: Optional[int] = None) -> BuildResult:
    """Run every stage and return the files to write (nothing touches the disk).

    ``ram_budget``/``flash_budget`` override the config's budgets (bytes).
    """
    compiled = _compile(model_path, cfg, name, progress)
    external = not cfg.input_in_arena

    def plan_fn(m):
        return plan_memory(m, external_input=external)

    if cfg.patch_layers is not None:
        compiled.model, _ = apply_patches(compiled.model, cfg.patch_layers, cfg.patches, plan_fn)
    model = compiled.model
    plan = plan_fn(model)
    check_budgets(model, plan, cfg, ram_budget, flash_budget)
    prov = provenance(model_path, cfg)
    prov_line = (f"model {os.path.basename(model_path)}, inputs sha256 {prov['inputs_sha256']} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(prov['files'].items()))})")
    files = emit_c(model, plan, prov_line)
    if cfg.test_data is not None:
        xs, ys = load_samples(cfg.test_data, compiled.graph.inputs[0], model.input_tensor.shape
                              if cfg.layout != "nhwc" else _model_shape(compiled), cfg.source)
        xs = _api_layout(xs, cfg)
        q_in = quantize_input(model, xs)
        expected = run_int8(model, q_in)
        files.update(emit_test_data(model, q_in, expected, ys, layer_checksums(model, q_in), prov_line))
    if runtime:
        files.update(runtime_files(model.kernels_used()))
    report = build_report(model, plan, prov)
    files[f"{name}_report.json"] = json.dumps(report, indent=1, sort_keys=True) + "\n"
    files[f"{name}_report.md"] = markdown_report(report)
    files[f"{name}_report.html"] = html_report(report)
    return BuildResult(compiled, plan, files, report, summary_line(report))


def _compile(model_path: str, cfg: Config, name: str, progress: bool) -> Compiled:
    """The front half; onnxruntime refusing to run the float model is the model's problem (exit 2)."""
    try:
        return compile_model(model_path, cfg, name, progress)
    except Exception as e:
        if not type(e).__module__.startswith("onnxruntime"):
            raise
        text = " ".join(str(e).split())
        node = re.search(r"[Nn]ode\. ?Name: ?'([^']*)'", text)
        raise ModelError(f"onnxruntime (which runs the float model for calibration) cannot run it: {text}",
                         file=model_path, node=node.group(1) if node else None) from None


def _model_shape(compiled: Compiled):
    t = compiled.model.input_tensor.shape
    return (t[0], t[3], t[1], t[2]) if len(t) == 4 else t


def _api_layout(xs: np.ndarray, cfg: Config) -> np.ndarray:
    if cfg.layout == "nhwc" and xs.ndim == 4:
        return np.ascontiguousarray(xs.transpose(0, 2, 3, 1))
    return xs


def check_output_dir(out_dir: str) -> None:
    """Refuse an output path that exists but is not a folder (checked before any work is done)."""
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError("exists and is not a folder; --output names the folder for the generated files",
                          file=out_dir)


def write_output(files: Dict[str, str], out_dir: str) -> List[str]:
    """Write ``files`` into ``out_dir``; returns the names that changed. Removes stale generated files.

    Everything is first written to a temporary folder beside ``out_dir``. A new folder is then
    renamed into place in one step; an existing one gets each changed file by an atomic rename,
    with SIGINT/SIGTERM held back until the last rename, so it is never left half-written.
    """
    out_dir = os.path.abspath(out_dir)
    check_output_dir(out_dir)
    tmp = None
    try:
        os.makedirs(os.path.dirname(out_dir), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".qnnc-", dir=os.path.dirname(out_dir))
        _fill(tmp, files)
        with _signals_deferred():
            return _commit(tmp, files, out_dir)
    except OSError as e:
        raise OutputError(f"cannot write the generated files ({e.strerror or e}); nothing was changed",
                          file=out_dir) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _fill(tmp: str, files: Dict[str, str]) -> None:
    """Write every file and the manifest into the temporary folder (mode as a new folder would get)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)
    for fname, text in files.items():
        with open(os.path.join(tmp, fname), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(sorted(files)) + "\n")


def _commit(tmp: str, files: Dict[str, str], out_dir: str) -> List[str]:
    """Move the temporary folder's content into ``out_dir``; returns the changed names."""
    if not os.path.isdir(out_dir):
        try:
            os.replace(tmp, out_dir)
            return sorted(files)
        except OSError:
            if not os.path.isdir(out_dir):  # not a concurrent build creating it first
                raise
    changed = []
    old_manifest = os.path.join(out_dir, MANIFEST)
    if os.path.isfile(old_manifest):
        with open(old_manifest, encoding="utf-8") as f:
            for old in f.read().split():
                if old not in files and os.path.basename(old) == old and not old.startswith("."):
                    try:
                        os.remove(os.path.join(out_dir, old))
                    except FileNotFoundError:
                        pass
    for fname in sorted(files) + [MANIFEST]:
        dst = os.path.join(out_dir, fname)
        src = os.path.join(tmp, fname)
        if os.path.isfile(dst) and _same_content(dst, src):
            continue
        os.replace(src, dst)
        if fname != MANIFEST:
            changed.append(fname)
    return changed


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT/SIGTERM inside the block and deliver them when it ends (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for sig in received:
            signal.raise_signal(sig)


def build(model_path: str, cfg: Config, out_dir: str, name: str, runtime: bool = True,
          progress: bool = True, ram_budget: Optional[int] = None, flash_budget: Optional[int] = None) -> BuildResult:
    """Generate and write; the output folder is untouched if generation fails."""
    check_output_dir(os.path.abspath(out_dir))
    result = generate(model_path, cfg, name, runtime, progress, ram_budget, flash_budget)
    write_output(result.files, out_dir)
    return result


def default_name(model_path: str, cfg: Config, override: Optional[str]) -> str:
    """The C prefix (--name, else the config's name, else the model file stem), checked."""
    from .pipeline import model_name
    name = model_name(cfg, model_path, override)
    problem = c_name_problem(name)
    if problem and override:
        raise ConfigError(problem, key="--name")
    if problem and not override and not cfg.name:  # derived from the file name: make it fit
        name = "m_" + "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in name)[:38]
    return name
