"""Safety of the generated C and the kernel library.

* cppcheck (``--enable=warning,style,portability --std=c99 --error-exitcode=1``, no suppressions)
  is clean on the generated code of every shared model (host and 32-bit platform) and on every
  kernel (32-bit platform);
* every kernel and every generated file compiles with ``-Wall -Wextra -Werror -Wconversion``
  (plus a few more warnings);
* two different models link into ONE executable against the kernel library compiled once
  (``qnnc build --runtime none`` + the sources under ``qnnc runtime-path``) and both give
  bit-exact results under ASan+UBSan;
* two contexts of one model running concurrently in two threads give bit-exact results, under
  ThreadSanitizer (no shared mutable state) and under ASan+UBSan.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from c_build import SANITIZE_FLAGS, sanitizer_env
from onnx_factory import run_cli
from qnnc.build import generate
from qnnc.config import load_config
from qnnc.reference.interpreter import quantize_input, run_int8
from shared_models import random_inputs, require

# C prefix for each shared model (distinct, so several link into one program).
NAMES = {"digits_cnn_sklearn": "digits", "onnx_zoo_mnist8": "mnist", "mlperf_tiny_kws_dscnn": "kws",
         "mlperf_tiny_ic_resnet8": "ic", "mlperf_tiny_ad_fc_autoencoder": "ad"}
# Weights files are flat constant arrays from one template, and cppcheck's time grows faster than
# their size: the 120 KB KWS file takes ~4 s, the 370 KB ResNet-8 file ~4 min, the 1.25 MB
# autoencoder file far longer. Only files up to 150 KB are checked: the template is the same in
# all of them, and every weights file also passes the strict compiler warnings below. Weights files
# only depend on the GCC branch of qnnc_kernels.h, so they are checked in that one configuration.
WEIGHTS_FAST_BYTES = 150_000
WEIGHTS_CONFIG = ["-D__GNUC__"]
CPPCHECK = ["cppcheck", "--enable=warning,style,portability", "--error-exitcode=1", "--std=c99", "-q"]
# The only suppression, for the generated self-test (<name>_test_data.c) alone: <name>_selftest
# points ctx->user at a local checksum state while it calls <name>_invoke, and restores the
# caller's ctx->user before every return, so the address never outlives the local.
GENERATED_SUPPRESSIONS = ["--suppress=autoVariables:*_test_data.c"]
EXTRA_WARNINGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-Wsign-conversion",
                  "-Wshadow", "-Wcast-qual", "-Wstrict-prototypes", "-Wmissing-prototypes", "-pedantic"]


@functools.lru_cache(maxsize=None)
def runtime_path() -> Path:
    """The kernel library folder as the CLI reports it (``qnnc runtime-path``)."""
    r = run_cli(["runtime-path"])
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip())


def kernel_sources() -> List[Path]:
    """Every kernel source file of the runtime."""
    return sorted((runtime_path() / "src").glob("*.c"))


def _samples(model: str, folder: Path, shape, count: int) -> np.ndarray:
    test = folder / "test.npz"
    if test.is_file():
        return np.load(test)["x"][:count]
    return random_inputs(model, shape, count, seed=3)


class Built:
    """One shared model built with ``qnnc build --runtime none``: folder, QModel, int8 inputs."""

    def __init__(self, model: str, root: Path):
        folder = require(model)
        self.name = NAMES[model]
        self.dir = root / self.name
        cfg_path = root / f"{self.name}.yaml"
        lines = [f"name: {self.name}"]
        if (folder / "calibration.npz").is_file():
            lines += ["calibration:", f"  data: {folder / 'calibration.npz'}", "  max_samples: 64"]
        if (folder / "test.npz").is_file():
            lines += ["test_data:", f"  data: {folder / 'test.npz'}", "  count: 3"]
        cfg_path.write_text("\n".join(lines) + "\n")
        r = run_cli(["build", folder / "model.onnx", "-c", cfg_path, "-o", self.dir, "--runtime", "none", "-q"])
        assert r.returncode == 0, r.stderr
        cfg = load_config(str(cfg_path))
        result = generate(str(folder / "model.onnx"), cfg, self.name, runtime=False, progress=False)
        assert {f: (self.dir / f).read_text() for f in result.files} == result.files, \
            "the CLI and an in-process build disagree"
        self.model = result.compiled.model
        xs = _samples(model, folder, result.compiled.graph.shape(result.compiled.graph.inputs[0]), 40)
        self.q_in = quantize_input(self.model, xs).reshape(len(xs), -1)
        self.expected = run_int8(self.model, quantize_input(self.model, xs)).reshape(len(xs), -1)

    def sources(self) -> List[Path]:
        """The generated C files (no kernels: built with --runtime none)."""
        return sorted(self.dir.glob("*.c"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Dict[str, Built]:
    """Every available shared model, built once for this module."""
    root = tmp_path_factory.mktemp("safety")
    out = {}
    for model in NAMES:
        try:
            out[NAMES[model]] = Built(model, root)
        except pytest.skip.Exception:
            continue
    if not out:
        pytest.skip("no shared models available")
    return out


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")


def _cppcheck(files: List[Path], include: List[Path], extra=()) -> None:
    _need("cppcheck")
    cmd = CPPCHECK + ["-j", "2", *extra] + [f"-I{d}" for d in include] + [str(f) for f in files]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    print(f"cppcheck on {len(files)} files: exit {r.returncode}")
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), r.stdout + r.stderr


# --------------------------------------------------------------------------- static analysis --


def test_cppcheck_kernels_clean():
    """Every kernel (all preprocessor configurations cppcheck explores) on a 32-bit platform, the
    targets' type sizes (3-4 minutes; the host's are covered by the sanitizer builds and the strict
    warnings below)."""
    _cppcheck(kernel_sources(), [runtime_path() / "include"], ["--platform=unix32"])


def _weights(built: Dict[str, Built], low: int, high: int) -> List[Path]:
    return [f for b in built.values() for f in b.sources()
            if f.name.endswith("_weights.c") and low < f.stat().st_size <= high]


def test_cppcheck_generated_code_clean(built):
    """Model code, headers and test data of every shared model, host and 32-bit; weights up to 150 KB."""
    code = [f for b in built.values() for f in b.sources() if not f.name.endswith("_weights.c")]
    include = [runtime_path() / "include"] + [b.dir for b in built.values()]
    _cppcheck(code, include, GENERATED_SUPPRESSIONS)
    _cppcheck(code, include, GENERATED_SUPPRESSIONS + ["--platform=unix32"])
    _cppcheck(_weights(built, 0, WEIGHTS_FAST_BYTES), include, WEIGHTS_CONFIG)


# --------------------------------------------------------------------------- warnings --


def _compile_only(src: Path, include: List[Path], out: Path, cc: str = "gcc", flags=EXTRA_WARNINGS) -> None:
    cmd = [cc, *flags, *[f"-I{d}" for d in include], "-c", str(src), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"


def test_kernels_compile_with_strict_warnings(tmp_path):
    """-Wall -Wextra -Werror -Wconversion (and sign-conversion, shadow, prototypes) on every kernel."""
    for src in kernel_sources():
        _compile_only(src, [runtime_path() / "include"], tmp_path / (src.stem + ".o"))


@pytest.mark.parametrize("cpu, extra", [("cortex-m4", []), ("cortex-m55", []),
                                        ("cortex-m4", ["-O2", "-fno-omit-frame-pointer"]),
                                        ("cortex-m55", ["-mfloat-abi=hard", "-O2", "-fno-omit-frame-pointer"])])
def test_kernels_compile_strict_for_cortex_m(tmp_path, cpu, extra):
    """The SIMD (DSP / MVE) paths are warning-free too, with the host's strict set (all but
    -pedantic, which the inline assembly's GNU syntax trips), and their assembly loops find their
    registers in a build that keeps a frame pointer (debug builds, CONFIG_FRAME_POINTER)."""
    _need("arm-none-eabi-gcc")
    strict = [f for f in EXTRA_WARNINGS if f not in ("-O2", "-pedantic")]
    flags = [f"-mcpu={cpu}", "-mthumb", "-Os", *strict, *extra]
    for src in kernel_sources():
        _compile_only(src, [runtime_path() / "include"], tmp_path / (src.stem + ".o"), "arm-none-eabi-gcc", flags)


def test_generated_code_compiles_with_strict_warnings(built, tmp_path):
    """The same flags on every generated file of every shared model."""
    for b in built.values():
        for src in b.sources():
            _compile_only(src, [runtime_path() / "include", b.dir], tmp_path / (src.stem + ".o"))


# --------------------------------------------------------------------------- linking and contexts --

TWO_MODELS_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "{a}.h"
#include "{b}.h"

static long read_all(const char *path, int8_t *buf, long size)
{{
    FILE *f = fopen(path, "rb");
    long n;
    if (f == NULL) return -1;
    n = (long)fread(buf, 1, (size_t)size, f);
    fclose(f);
    return n;
}}

static int write_all(const char *path, const int8_t *buf, long size)
{{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, (size_t)size, f) != (size_t)size) return -1;
    return fclose(f);
}}

/* usage: prog N a_in a_out b_in b_out -- runs both models, interleaved, N samples each */
int main(int argc, char **argv)
{{
    long n, i;
    int8_t *ain, *aout, *bin, *bout;
    void *barena;
    {b}_ctx bctx;
    if (argc != 6) return 2;
    n = atol(argv[1]);
    ain = malloc((size_t)(n * {A}_INPUT_SIZE));
    aout = malloc((size_t)(n * {A}_OUTPUT_SIZE));
    bin = malloc((size_t)(n * {B}_INPUT_SIZE));
    bout = malloc((size_t)(n * {B}_OUTPUT_SIZE));
    barena = malloc({B}_ARENA_SIZE);
    if (!ain || !aout || !bin || !bout || !barena) return 3;
    if (read_all(argv[2], ain, n * {A}_INPUT_SIZE) != n * {A}_INPUT_SIZE) return 4;
    if (read_all(argv[4], bin, n * {B}_INPUT_SIZE) != n * {B}_INPUT_SIZE) return 4;
    if ({b}_init(&bctx, barena, {B}_ARENA_SIZE) != 0) return 5;
    for (i = 0; i < n; ++i) {{
        /* model a through its static-arena API, model b through a context: interleaved */
        if ({a}_run(ain + i * {A}_INPUT_SIZE, aout + i * {A}_OUTPUT_SIZE) != 0) return 6;
        if ({b}_invoke(&bctx, bin + i * {B}_INPUT_SIZE, bout + i * {B}_OUTPUT_SIZE) != 0) return 6;
    }}
    if (write_all(argv[3], aout, n * {A}_OUTPUT_SIZE) || write_all(argv[5], bout, n * {B}_OUTPUT_SIZE)) return 7;
    free(ain); free(aout); free(bin); free(bout); free(barena);
    return 0;
}}
"""

THREADS_MAIN = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "{m}.h"

typedef struct {{
    const int8_t *in;
    int8_t *out;
    long n;
    int reverse;
    int rc;
    {m}_ctx ctx;
}} job_t;

static void *worker(void *arg)
{{
    job_t *job = (job_t *)arg;
    long k;
    for (k = 0; k < job->n; ++k) {{
        long i = job->reverse ? job->n - 1 - k : k;
        if ({m}_invoke(&job->ctx, job->in + i * {M}_INPUT_SIZE, job->out + i * {M}_OUTPUT_SIZE) != 0) job->rc = 1;
    }}
    return NULL;
}}

/* usage: prog N in out_a out_b -- two threads, one context each, over the same N inputs in
 * opposite orders (so they process different inputs at the same time) */
int main(int argc, char **argv)
{{
    long n;
    int t;
    FILE *f;
    int8_t *in;
    job_t jobs[2];
    pthread_t th[2];
    if (argc != 5) return 2;
    n = atol(argv[1]);
    in = malloc((size_t)(n * {M}_INPUT_SIZE));
    f = fopen(argv[2], "rb");
    if (!in || !f || fread(in, 1, (size_t)(n * {M}_INPUT_SIZE), f) != (size_t)(n * {M}_INPUT_SIZE)) return 3;
    fclose(f);
    for (t = 0; t < 2; ++t) {{
        void *arena = malloc({M}_ARENA_SIZE);
        jobs[t].in = in;
        jobs[t].out = malloc((size_t)(n * {M}_OUTPUT_SIZE));
        jobs[t].n = n;
        jobs[t].reverse = t;
        jobs[t].rc = 0;
        if (!arena || !jobs[t].out || {m}_init(&jobs[t].ctx, arena, {M}_ARENA_SIZE) != 0) return 4;
    }}
    for (t = 0; t < 2; ++t)
        if (pthread_create(&th[t], NULL, worker, &jobs[t]) != 0) return 5;
    for (t = 0; t < 2; ++t) pthread_join(th[t], NULL);
    for (t = 0; t < 2; ++t) {{
        if (jobs[t].rc) return 6;
        f = fopen(argv[3 + t], "wb");
        if (!f || fwrite(jobs[t].out, 1, (size_t)(n * {M}_OUTPUT_SIZE), f) != (size_t)(n * {M}_OUTPUT_SIZE)) return 7;
        fclose(f);
        free(jobs[t].out);
        free(jobs[t].ctx.arena);
    }}
    free(in);
    return 0;
}}
"""


def _kernel_library(tmp: Path, flags: List[str]) -> Path:
    """Compile every kernel once (from ``qnnc runtime-path``) into a static library."""
    objs = []
    for src in kernel_sources():
        obj = tmp / f"{src.stem}.o"
        _compile_only(src, [runtime_path() / "include"], obj, flags=flags)
        objs.append(str(obj))
    lib = tmp / "libqnnc.a"
    subprocess.run(["ar", "rcs", str(lib), *objs], check=True)
    return lib


def _link(main_c: Path, models: List[Built], lib: Path, exe: Path, flags: List[str], libs=()) -> Path:
    inc = [f"-I{runtime_path() / 'include'}"] + [f"-I{b.dir}" for b in models]
    srcs = [str(s) for b in models for s in b.sources()]
    cmd = ["gcc", *flags, *inc, str(main_c), *srcs, str(lib), "-o", str(exe), *libs]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    return exe


def _run(cmd: List[str], env=None) -> None:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr[-4000:]}"


def _pick(built: Dict[str, Built], names: List[str]) -> List[Built]:
    have = [built[n] for n in names if n in built]
    if len(have) < len(names):
        pytest.skip(f"needs shared models {names}")
    return have


def test_two_models_in_one_executable(built, tmp_path):
    """Two models + the kernel library compiled once, one program, ASan+UBSan, bit-exact both."""
    a, b = _pick(built, ["digits", "mnist"])
    flags = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", *SANITIZE_FLAGS]
    lib = _kernel_library(tmp_path, flags)
    main_c = tmp_path / "main.c"
    main_c.write_text(TWO_MODELS_MAIN.format(a=a.name, A=a.name.upper(), b=b.name, B=b.name.upper()))
    exe = _link(main_c, [a, b], lib, tmp_path / "two_models", flags)
    n = min(len(a.q_in), len(b.q_in))
    a.q_in[:n].tofile(tmp_path / "a.in")
    b.q_in[:n].tofile(tmp_path / "b.in")
    _run([exe, n, tmp_path / "a.in", tmp_path / "a.out", tmp_path / "b.in", tmp_path / "b.out"], sanitizer_env())
    got_a = np.fromfile(tmp_path / "a.out", np.int8).reshape(n, -1)
    got_b = np.fromfile(tmp_path / "b.out", np.int8).reshape(n, -1)
    print(f"{a.name} + {b.name} in one executable: {n} inputs each")
    assert np.array_equal(got_a, a.expected[:n])
    assert np.array_equal(got_b, b.expected[:n])


def _sym_table(exe: Path) -> List[str]:
    r = subprocess.run(["nm", "--defined-only", str(exe)], capture_output=True, text=True)
    return [line.split()[-1] for line in r.stdout.splitlines() if line.strip()]


def test_all_models_link_together(built, tmp_path):
    """Every shared model in one program: no symbol clashes, kernels defined exactly once."""
    models = list(built.values())
    main_c = tmp_path / "main.c"
    main_c.write_text("".join(f'#include "{b.name}.h"\n' for b in models)
                      + "int main(void)\n{\n    int rc = 0;\n"
                      + "".join(f"    static int8_t in_{b.name}[{b.name.upper()}_INPUT_SIZE], "
                                f"out_{b.name}[{b.name.upper()}_OUTPUT_SIZE];\n" for b in models)
                      + "".join(f"    rc |= {b.name}_run(in_{b.name}, out_{b.name});\n" for b in models)
                      + "    return rc;\n}\n")
    flags = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"]
    exe = _link(main_c, models, _kernel_library(tmp_path, flags), tmp_path / "all_models", flags)
    _run([exe])
    syms = _sym_table(exe)
    kernels = [s for s in syms if s.startswith("qnnc_")]
    assert len(kernels) == len(set(kernels))


@pytest.mark.parametrize("sanitizer", ["thread", "address,undefined"])
def test_two_concurrent_contexts(built, tmp_path, sanitizer):
    """Two threads, one context each, same model, different inputs at the same time: bit-exact."""
    m = built.get("kws") or next(iter(built.values()))
    san = ["-fsanitize=thread", "-g"] if sanitizer == "thread" else list(SANITIZE_FLAGS)
    flags = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", *san]
    lib = _kernel_library(tmp_path, flags)
    main_c = tmp_path / "main.c"
    main_c.write_text(THREADS_MAIN.format(m=m.name, M=m.name.upper()))
    exe = _link(main_c, [m], lib, tmp_path / "threads", flags, ["-pthread"])
    n = 12 if sanitizer == "thread" else len(m.q_in)  # ThreadSanitizer runs ~10x slower
    m.q_in[:n].tofile(tmp_path / "in.bin")
    env = sanitizer_env()
    env["TSAN_OPTIONS"] = "halt_on_error=1:exitcode=66"
    _run([exe, n, tmp_path / "in.bin", tmp_path / "a.out", tmp_path / "b.out"], env)
    for out in ("a.out", "b.out"):
        got = np.fromfile(tmp_path / out, np.int8).reshape(n, -1)
        assert np.array_equal(got, m.expected[:n]), out
    print(f"{m.name}: 2 threads x {n} inferences, bit-exact ({sanitizer} sanitizer clean)")
