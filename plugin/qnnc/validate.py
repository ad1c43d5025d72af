"""``qnnc validate``: generated C (host build) vs the numpy reference vs float onnxruntime.

Built for whole test sets (MNIST's 9,700 samples in 35-50 s on a busy 2-core machine): the host C program
runs all samples in one process per CPU, in the background while Python works; onnxruntime gets
batches of samples when the model's batch dimension allows it (checked against single-sample
runs), else one sample per call; the per-layer comparison works on whole batches; and the numpy
reference runs with one BLAS thread (its matrix products are small: a thread pool only costs).
``benchmarks/validate_speed.py`` measures each stage.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

import numpy as np

from .build import _api_layout, generate
from .emit.output_dir import write_output
from .quantize.calibrate import PROGRESS_MIN_TOTAL, _progress, apply_transform, internal_value
from .config import Config, DataRef
from .frontend.data import load_input_samples, load_samples, sample_count
from .frontend.float_runner import FloatRunner, float_outputs_all
from .frontend.qdq import integer_input_codes
from .emit.hostrun import compile_driver, run_driver, run_driver_io
from .passes.equalize import float_transforms
from .quantize.lowering import only_relu_readers
from .reference.interpreter import api_input_arrays, dequantize_output, quantize_input, run, run_all

BATCH = 256  # samples per onnxruntime call / per-layer comparison step


def _sqnr_db(signal: float, noise: float) -> Optional[float]:
    """10 log10(signal / noise); None when the int8 value is exact (no noise)."""
    if noise <= 0.0:
        return None
    return float(10.0 * np.log10(max(signal, 1e-30) / noise))


def single_threaded_blas():
    """numpy's BLAS limited to one thread (threadpoolctl; a no-op without it). The reference's
    products are small: on a busy 2-core machine OpenBLAS's threads made them 3-7x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class FloatBatches:
    """Float onnxruntime values of every tensor for many samples: ``run(xs)`` -> {ONNX name: (N, ...)}.

    Feeds ``batch`` samples per call when the model accepts that batch size and gives the same
    values as one sample at a time (a Reshape to a fixed batch of 1 does not); else loops.
    """

    def __init__(self, model_path: str, input_shape: Optional[Dict[str, List[int]]], xs: np.ndarray,
                 batch: int = BATCH) -> None:
        self.single = FloatRunner(model_path, input_shape, all_tensors=True)
        self.input_name = self.single.input_name
        self.output_name = self.single.output_names[0]
        self.multi = None
        self.batch = min(batch, xs.shape[0])
        if self.batch >= 2 and input_shape and self.input_name in input_shape:
            shape = list(input_shape[self.input_name])
            if shape and shape[0] == 1:
                self.multi = self._batched(model_path, dict(input_shape, **{self.input_name: [self.batch] + shape[1:]}),
                                           xs)

    def _batched(self, model_path: str, input_shape, xs: np.ndarray) -> Optional[FloatRunner]:
        try:
            runner = FloatRunner(model_path, input_shape, all_tensors=True)
            with _stderr_silenced():  # onnxruntime logs a failing Reshape itself before raising
                probe = runner.run(self._pad(xs[:self.batch]))
            for i in sorted({0, self.batch - 1}):
                one = self.single.run(xs[i:i + 1])
                for k, v in one.items():
                    got = probe.get(k)
                    if got is None or v.shape[:1] != (1,) or got.shape != (self.batch,) + v.shape[1:]:
                        return None
                    if not np.allclose(got[i:i + 1], v, rtol=1e-4, atol=1e-5 * (1.0 + float(np.abs(v).max(initial=0)))):
                        return None
            return runner
        except Exception:  # the model (or onnxruntime) does not take this batch size: one at a time
            return None

    def _pad(self, xs: np.ndarray) -> np.ndarray:
        if xs.shape[0] == self.batch:
            return xs
        return np.concatenate([xs, np.repeat(xs[-1:], self.batch - xs.shape[0], axis=0)], axis=0)

    def run(self, xs: np.ndarray) -> Dict[str, np.ndarray]:
        n = xs.shape[0]
        if self.multi is not None and n <= self.batch:
            return {k: v[:n] for k, v in self.multi.run(self._pad(xs)).items()}
        outs = [self.single.run(xs[i:i + 1]) for i in range(n)]
        # a rank-0 tensor (a scalar the model computes) has no batch axis: one value per sample
        return {k: np.stack([o[k] for o in outs]) if np.ndim(outs[0][k]) == 0 else
                np.concatenate([o[k] for o in outs], axis=0) for k in outs[0]} if outs else {}


@contextlib.contextmanager
def _stderr_silenced():
    """File descriptor 2 to devnull for the block (native libraries write there directly)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_c(exe: str, q_in: np.ndarray, out_size: int, jobs: Optional[int] = None) -> np.ndarray:
    """The host C program on all samples (N, input size): one process per CPU (at most 2), each
    taking a contiguous share of the samples."""
    n = q_in.shape[0]
    jobs = jobs or (min(2, os.cpu_count() or 1) if n >= 1000 else 1)
    parts = [p for p in np.array_split(q_in, jobs) if len(p)]
    if len(parts) <= 1:
        return run_driver(exe, q_in, out_size)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return np.concatenate(list(pool.map(lambda p: run_driver(exe, p, out_size), parts)))


class _BatchGraph:
    """The graph, with a leading dimension of 1 read as ``n`` (so internal_value takes batches)."""

    def __init__(self, graph, n: int) -> None:
        self._graph, self._n = graph, n

    def __getattr__(self, attr):
        return getattr(self._graph, attr)

    def shape(self, name: str):
        s = tuple(self._graph.shape(name))
        return (self._n,) + s[1:] if s and s[0] == 1 else s


def _relu_read_tensors(graph, model, ops) -> set:
    """Indices into ``ops`` of the outputs whose int8 range starts at 0 because only Relus read them
    (quantize.lowering.only_relu_readers): their negative float values all reach a Relu, so the
    comparison is with the float value clipped at 0, what those Relus see."""
    consumers = graph.reader_map()
    out = set()
    for j, op in enumerate(ops):
        t = model.tensors[op.output]
        if t.zero_point == -(1 << (t.bits - 1)) and op.output in graph.tensors and \
                only_relu_readers(graph, op.output, lambda name: consumers.get(name, [])):
            out.add(j)
    return out


def float_and_layers(model_path: str, graph, model, xs: np.ndarray, q_in: np.ndarray, input_shape=None,
                     progress: bool = False):
    """Float outputs (N, out) and the per-layer SQNR of the reference against float onnxruntime.

    For every op (views excluded) the dequantized int8 output of the numpy reference is compared
    with the float value of the same tensor (ONNX name via ``Graph.original_name``, NCHW -> NHWC,
    equalization factors applied); the signal and error energies are summed over all samples.
    Also returns the reference's int8 outputs (N, out). Works in batches of ``BATCH`` samples.
    """
    floats = FloatBatches(model_path, input_shape, xs)
    transforms = float_transforms(graph)
    ops = [op for op in model.ops if op.kind != "reshape"]
    keep = [op.output for op in ops]
    relu_read = _relu_read_tensors(graph, model, ops)
    sig = np.zeros(len(ops))
    err = np.zeros(len(ops))
    seen = np.zeros(len(ops), bool)
    per_sample = np.zeros(len(ops), bool)  # ops whose tensors cannot be read as batches
    n = xs.shape[0]
    f_out, r_out = [], []
    _progress(0, n, "comparing with the reference and float onnxruntime", progress)  # starts the clock
    with single_threaded_blas():
        for start in range(0, n, BATCH):
            stop = min(n, start + BATCH)
            b = stop - start
            outs = floats.run(xs[start:stop])
            outs[floats.input_name] = xs[start:stop]
            f_out.append(outs[floats.output_name].reshape(b, -1))
            refs = [run(model, q_in[i], keep=keep) for i in range(start, stop)]
            ref = {t: np.stack([r[t] for r in refs]) for t in refs[0]}  # kept tensors and the output
            r_out.append(ref[model.output].reshape(b, -1))

            def getter(lo: int, hi: int):
                def get(name):
                    v = outs.get(name)
                    return None if v is None else apply_transform(v[lo:hi].astype(np.float64), transforms.get(name))
                return get

            batch_graph = _BatchGraph(graph, b)
            for j, op in enumerate(ops):
                # an int8 <-> int16 conversion's output is its (graph) input's value at another precision
                name = op.inputs[0] if op.kind == "requantize" else op.output
                if name not in graph.tensors:  # a lowering's temporary (a Gather in ONNX order before
                    continue                   # its transpose into NHWC): no float tensor to compare
                t = model.tensors[op.output]
                d = ((ref[op.output].astype(np.float64) - t.zero_point) * t.scale).reshape(b, -1)
                f = None if per_sample[j] else internal_value(batch_graph, name, getter(0, b))
                if f is not None and start == 0 and f.size == d.size:  # batch reading == one sample?
                    one = internal_value(graph, name, getter(0, 1))
                    if one is None or one.size != f.size // b or not np.array_equal(one.reshape(-1),
                                                                                   f.reshape(b, -1)[0]):
                        f = None
                if f is None or f.size != d.size:
                    per_sample[j] = True
                    fs = [internal_value(graph, name, getter(i, i + 1)) for i in range(b)]
                    if any(v is None for v in fs):
                        continue
                    f = np.stack([v.reshape(-1) for v in fs])
                f = f.reshape(b, -1)
                if j in relu_read:
                    f = np.maximum(f, 0.0)
                sig[j] += float(np.sum(f * f))
                err[j] += float(np.sum((d - f) ** 2))
                seen[j] = True
            _progress(stop, n, "comparing with the reference and float onnxruntime", progress)
    layers = [{"index": model.ops.index(op), "name": op.name, "op": op.kind, "tensor": op.output,
               "scale": model.tensors[op.output].scale, "sqnr_db": _sqnr_db(sig[j], err[j]),
               "relu_read": j in relu_read}
              for j, op in enumerate(ops) if seen[j]]
    return np.concatenate(f_out), np.concatenate(r_out), layers


def validate(model_path: str, cfg: Config, data_path: str, name: Optional[str] = None, limit: Optional[int] = None,
             sanitize: bool = True, progress: bool = True) -> Dict[str, Any]:
    """Build, compile, run on ``data_path`` and compare; returns a JSON-able dict."""
    from .build import default_name
    name = default_name(model_path, cfg, name)
    result = generate(model_path, cfg, name, runtime=True, progress=progress)
    model = result.compiled.model
    if model.multi_io:
        return validate_multi(model_path, cfg, data_path, name, result, limit, sanitize)
    in_name = result.compiled.graph.inputs[0]
    raw_shape = result.compiled.graph.shape(in_name)
    if cfg.layout == "nhwc" and len(raw_shape) == 4:  # data (and onnxruntime) use the model's NCHW
        raw_shape = (raw_shape[0], raw_shape[3], raw_shape[1], raw_shape[2])
    ref = DataRef(os.path.abspath(data_path), yaml_key="--data", count=limit)
    codes = integer_input_codes(result.compiled.graph.quant).get(in_name)  # a quantized model's int8 input
    xs, ys = load_samples(ref, in_name, raw_shape, None, codes, in_name in result.compiled.graph.value_inputs)
    with tempfile.TemporaryDirectory(prefix="qnnc-validate-") as tmp:
        gen = os.path.join(tmp, "gen")
        write_output(result.files, gen, model.name)
        exe = compile_driver(gen, name, os.path.join(tmp, "model"), sanitize=sanitize)
        q_in = quantize_input(model, _api_layout(xs, cfg))
        # The C program (one process for all samples) runs while Python computes the rest.
        with ThreadPoolExecutor(max_workers=1) as pool:
            c_job = pool.submit(run_c, exe, q_in.reshape(len(xs), -1), model.output_tensor.size)
            f_out, ref_out, layers = float_and_layers(model_path, result.compiled.graph, model, xs, q_in,
                                                      {in_name: list(raw_shape)}, progress)
            if progress and not c_job.done() and len(xs) >= PROGRESS_MIN_TOTAL:
                print(f"qnnc: waiting for the compiled C ({'ASan+UBSan, ' if sanitize else ''}{len(xs)} samples)",
                      file=sys.stderr, flush=True)
            c_out = c_job.result()
    mismatches = int(np.sum(np.any(c_out != ref_out, axis=1)))
    out_shape = model.output_tensor.shape
    if cfg.layout == "nhwc" and len(out_shape) == 4:  # onnxruntime gives NCHW, the API is NHWC
        n, h, w, c = out_shape
        f_out = f_out.reshape(len(xs), n, c, h, w).transpose(0, 1, 3, 4, 2).reshape(len(xs), -1)
    deq = dequantize_output(model, ref_out)
    err_lsb = np.abs(deq.astype(np.float64) - f_out) / model.output_tensor.scale
    res: Dict[str, Any] = {
        "name": name,
        "samples": int(len(xs)),
        "bit_exact": mismatches == 0,
        "c_vs_reference_mismatching_samples": mismatches,
        "sanitizers": bool(sanitize),
        "float_max_abs_error_lsb": float(err_lsb.max()),
        "float_mean_abs_error_lsb": float(err_lsb.mean()),
        "arena_bytes": result.report["arena_bytes"],
        "lower_bound_bytes": result.report["lower_bound_bytes"],
        "weight_bytes": result.report["weight_bytes"],
        "layers": layers,
    }
    if ys is not None:
        res.update(_accuracy(model, 0, f_out, c_out, ys))
    return res


def _accuracy(model, k: int, f: np.ndarray, c: np.ndarray, ys: np.ndarray) -> Dict[str, float]:
    """Accuracy of output ``k`` against the labels: the argmax of scores, or the value of a class
    index an ArgMax outputs; nothing for another single value (a regression output)."""
    out = model.outputs[k]
    producer = next((op for op in model.ops if op.output == out), None)
    if f.shape[1] == 1 and producer is not None and producer.kind == "arg_max":
        f_class, c_class = np.rint(f[:, 0]).astype(np.int64), dequantize_output(model, c, k)[:, 0].round().astype(np.int64)
    elif f.shape[1] > 1:
        f_class, c_class = f.argmax(axis=1), c.astype(np.int32).argmax(axis=1)
    else:
        return {}
    return {"accuracy_float": float(np.mean(f_class == ys)), "accuracy_int8": float(np.mean(c_class == ys)),
            "top1_agreement_int8_vs_float": float(np.mean(c_class == f_class))}


def _nchw_shape(shape, cfg: Config):
    """The model's own (ONNX) shape of an API tensor whose API layout the config may make NHWC."""
    if cfg.layout == "nhwc" and len(shape) == 4:
        return (shape[0], shape[3], shape[1], shape[2])
    return tuple(shape)


def validate_multi(model_path: str, cfg: Config, data_path: str, name: str, result, limit: Optional[int],
                   sanitize: bool) -> Dict[str, Any]:
    """:func:`validate` for a model with several inputs or outputs: the data file holds one array per
    input (see frontend.data.load_input_samples); every output is compared (C vs reference bit for
    bit, reference vs float onnxruntime in output LSB). No per-layer SQNR (layers is empty)."""
    model = result.compiled.model
    graph = result.compiled.graph
    names = list(model.inputs)
    raw_shapes = [_nchw_shape(graph.shape(t), cfg) for t in names]
    ref = DataRef(os.path.abspath(data_path), yaml_key="--data", count=limit)
    xs, ys = load_input_samples(ref, names, raw_shapes, None, integer_input_codes(graph.quant), graph.value_inputs)
    if not isinstance(xs, dict):  # one input (several outputs): the loader gives its array alone
        xs = {names[0]: xs}
    n = sample_count(xs)
    api = {k: _api_layout(v, cfg) for k, v in xs.items()}
    q_in = quantize_input(model, api)
    ref_outs = run_all(model, q_in)
    with tempfile.TemporaryDirectory(prefix="qnnc-validate-") as tmp:
        gen = os.path.join(tmp, "gen")
        write_output(result.files, gen, model.name)
        exe = compile_driver(gen, name, os.path.join(tmp, "model"), sanitize=sanitize)
        c_outs = run_driver_io(exe, api_input_arrays(model, q_in), [t.size for t in model.output_tensors],
                               output_bits=[t.bits for t in model.output_tensors])
    pins = {k: list(s) for k, s in zip(names, raw_shapes)}
    f_outs = float_outputs_all(model_path, xs, pins)
    outputs = []
    mismatching = np.zeros(n, bool)
    for k, (t_name, t) in enumerate(zip(model.api_output_names, model.output_tensors)):
        r = ref_outs[k].reshape(n, -1)
        mismatching |= np.any(c_outs[k] != r, axis=1)
        f = f_outs[k].reshape(n, -1)
        if cfg.layout == "nhwc" and len(t.shape) == 4:  # onnxruntime gives NCHW, the API is NHWC
            b, h, w, c = t.shape
            f = f.reshape(n, b, c, h, w).transpose(0, 1, 3, 4, 2).reshape(n, -1)
        err = np.abs(dequantize_output(model, r, k).astype(np.float64) - f) / t.scale
        outputs.append({"name": t_name, "bit_exact": bool(np.array_equal(c_outs[k], r)),
                        "float_max_abs_error_lsb": float(err.max()),
                        "float_mean_abs_error_lsb": float(err.mean())})
    res: Dict[str, Any] = {
        "name": name,
        "samples": int(n),
        "bit_exact": not bool(mismatching.any()),
        "c_vs_reference_mismatching_samples": int(mismatching.sum()),
        "sanitizers": bool(sanitize),
        "float_max_abs_error_lsb": max(o["float_max_abs_error_lsb"] for o in outputs),
        "float_mean_abs_error_lsb": float(np.mean([o["float_mean_abs_error_lsb"] for o in outputs])),
        "outputs": outputs,
        "arena_bytes": result.report["arena_bytes"],
        "lower_bound_bytes": result.report["lower_bound_bytes"],
        "weight_bytes": result.report["weight_bytes"],
        "layers": [],
    }
    if ys is not None:  # labels judge the first output
        res.update(_accuracy(model, 0, f_outs[0].reshape(n, -1), c_outs[0].reshape(n, -1), ys))
    return res


def format_validation(res: Dict[str, Any]) -> str:
    """Human-readable validation summary."""
    lines = [
        f"qnnc validate: {res['name']} on {res['samples']} samples",
        f"  C (host{', ASan+UBSan' if res['sanitizers'] else ''}) vs reference: "
        + ("bit-exact" if res["bit_exact"] else f"{res['c_vs_reference_mismatching_samples']} samples differ"),
        f"  int8 vs float onnxruntime: max |error| {res['float_max_abs_error_lsb']:.2f} LSB, "
        f"mean {res['float_mean_abs_error_lsb']:.3f} LSB",
    ]
    for o in res.get("outputs", []):  # models with several outputs
        lines.append(f"    output '{o['name']}': {'bit-exact' if o['bit_exact'] else 'C differs'}, max |error| "
                     f"{o['float_max_abs_error_lsb']:.2f} LSB, mean {o['float_mean_abs_error_lsb']:.3f} LSB")
    if "accuracy_float" in res:
        lines.append(f"  accuracy: float {res['accuracy_float']:.4f}, int8 {res['accuracy_int8']:.4f} "
                     f"(top-1 agreement {res['top1_agreement_int8_vs_float']:.4f})")
    lines.append(f"  RAM arena {res['arena_bytes']} B (lower bound {res['lower_bound_bytes']} B), "
                 f"weights {res['weight_bytes']} B")
    if res.get("layers"):
        lines.append("  per-layer SQNR of int8 vs float onnxruntime (dB; higher is better, each layer's "
                     "error includes what earlier layers passed on):")
        width = min(48, max(len(l["name"]) for l in res["layers"]))
        for l in res["layers"]:
            name = l["name"] if len(l["name"]) <= width else l["name"][:width - 3] + "..."
            db = "exact" if l["sqnr_db"] is None else f"{l['sqnr_db']:6.1f}"
            note = "  (vs float clipped at 0: only Relus read it)" if l.get("relu_read") else ""
            lines.append(f"    {l['index']:3d}  {l['op']:<16s} {name:<{width}s} {db:>6s}{note}")
    return "\n".join(lines)
