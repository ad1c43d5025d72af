"""The PlatformIO library: real `pio run` / `pio test` builds of samples/platformio/kws.

PlatformIO's registry is unreachable here, so tests/pio_fixture.py assembles a private
PLATFORMIO_CORE_DIR with tool-scons (SCons 4.11.1 from PyPI), the host platform `native`, a
Cortex-M-on-QEMU platform (when arm-none-eabi-gcc and qemu-system-arm are installed) and a
stand-in for the throwtheswitch/Unity library; the builds themselves are real PlatformIO
subprocesses driving real SCons, the qnnc library's extra script and the real generator.

The sample is copied with the repository layout it relies on (../../models/kws and
symlink://../../../platformio_lib), so its platformio.ini is used unmodified, and the core
folder is made by the offline setup command of docs/platformio.md, run verbatim. The tests of
one module share that copy and run in order: first build, no-op rebuild, `pio test`,
model/config changes, failures, then the Cortex-M environment.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import pio_fixture

pytestmark = pytest.mark.platformio

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "platformio" / "kws"
KWS_CLASSES = ["Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence",
               "Unknown"]
GENERATING = "qnnc: generating kws"
TIMINGS: dict = {}

try:
    import platformio  # noqa: F401
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip("PlatformIO Core is not installed (pip install platformio)",
                allow_module_level=True)
if not shutil.which("gcc"):  # pragma: no cover
    pytest.skip("no host gcc for the native platform", allow_module_level=True)


# ----------------------------------------------------------------- helpers --


def pio(core: Path, project: Path, *args: str, check: bool = True, timeout: int = 600):
    """Run `pio ARGS` in ``project``; returns (exit code, stdout+stderr, seconds)."""
    started = time.monotonic()
    proc = subprocess.run(pio_fixture.pio_command(*args), cwd=project,
                          env=pio_fixture.pio_environ(core), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    took = time.monotonic() - started
    if check:
        assert proc.returncode == 0, f"pio {' '.join(args)} failed:\n{proc.stdout[-6000:]}"
    return proc.returncode, proc.stdout, took


def result_lines(out: str) -> list:
    return re.findall(r"^test (\d+): predicted (\w+) +\(p=0\.\d{3}\) +label (\w+|\?) +"
                      r"(matches reference|DIFFERS from reference)$", out, re.M)


def generated(project: Path, env: str = "native") -> dict:
    gen = project / ".pio" / "build" / env / "qnnc" / "kws"
    return {p.name: p.stat().st_mtime_ns for p in sorted(gen.iterdir()) if p.is_file()}


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".pio", "__pycache__", "*.pyc"))


# ---------------------------------------------------------------- fixtures --


def documented_offline_commands(doc: Path) -> list:
    """The shell block of ``doc`` that runs the sample offline with tests/pio_fixture.py."""
    blocks = re.findall(r"^```sh\n(.*?)^```", doc.read_text(), re.S | re.M)
    found = [b for b in blocks if "tests/pio_fixture.py" in b]
    assert len(found) == 1, f"{doc}: expected one sh block with tests/pio_fixture.py"
    return [ln for ln in found[0].splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """A copy of the repository layout the sample refers to, set up for PlatformIO by the
    documented offline command, run verbatim (a bash shell at the copy's root)."""
    root = tmp_path_factory.mktemp("repo")
    copy_tree(REPO / "platformio_lib", root / "platformio_lib")
    # a copy, not a link: edits to the checkout while the tests run must not regenerate
    copy_tree(REPO / "plugin", root / "plugin")
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    copy_tree(REPO / "samples" / "models" / "kws", root / "samples" / "models" / "kws")
    copy_tree(SAMPLE, root / "samples" / "platformio" / "kws")
    (root / "tests").mkdir()
    shutil.copy2(REPO / "tests" / "pio_fixture.py", root / "tests" / "pio_fixture.py")
    commands = documented_offline_commands(REPO / "docs" / "platformio.md")
    setup = commands[:next(i for i, c in enumerate(commands) if c.startswith("cd "))]
    assert setup and "tests/pio_fixture.py" in setup[0], commands
    # `python` of the commands is this interpreter (the one with PlatformIO and SCons)
    shims = root / ".shims"
    shims.mkdir()
    for name in ("python", "python3"):
        (shims / name).symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORMIO_")}
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["bash", "-ec", "\n".join(setup) + '\necho "CORE=$PLATFORMIO_CORE_DIR"'],
                          cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    core = Path(re.search(r"^CORE=(.*)$", proc.stdout, re.M).group(1))
    assert core == root / "build" / "pio-core" and (core / "packages" / "tool-scons").is_dir()
    return root


@pytest.fixture(scope="module")
def core(repo_copy) -> Path:
    return repo_copy / "build" / "pio-core"


@pytest.fixture(scope="module")
def sample(repo_copy) -> Path:
    """The copy of the sample, with the Unity stand-in the documented command installed."""
    return repo_copy / "samples" / "platformio" / "kws"


@pytest.fixture(scope="module")
def first_build(core, sample):
    rc, out, took = pio(core, sample, "run", "-e", "native", "-t", "exec")
    TIMINGS["native first build + run"] = took
    return out


# ------------------------------------------------------------------- tests --


def test_documented_offline_commands_agree():
    """docs/platformio.md and the library's README show the same offline commands; they build and
    test the environments of the sample (the fixtures and the tests below run them)."""
    doc = documented_offline_commands(REPO / "docs" / "platformio.md")
    assert documented_offline_commands(REPO / "platformio_lib" / "README.md") == doc
    assert "--project samples/platformio/kws" in doc[0], doc
    assert doc[1:] == ["cd samples/platformio/kws", "pio run -e native -t exec", "pio test -e native",
                       "pio test -e mps2_an386"], doc


def test_native_build_generates_compiles_and_runs(first_build, sample):
    out = first_build
    assert GENERATING in out and "(first build)" in out, out[-4000:]
    assert re.search(r"^qnnc: kws: .*MACs", out, re.M), "generator summary missing"
    results = result_lines(out)
    assert len(results) == 10, out[-4000:]
    assert all(r[3] == "matches reference" for r in results), out[-4000:]
    assert all(r[1] in KWS_CLASSES for r in results)
    assert "qnnc: 10/10 match reference" in out, out[-4000:]
    # the generated sources and the shared kernel library were compiled and linked
    assert "qnnc/build/kws/kws.o" in out and "libqnnc_runtime.a" in out
    gen = generated(sample)
    assert {"kws.h", "kws.c", "kws_weights.c", "kws_test_data.h", "kws_test_data.c"} <= set(gen)


def test_second_run_does_not_regenerate_or_recompile(first_build, core, sample):
    before = generated(sample)
    rc, out, took = pio(core, sample, "run", "-e", "native", "-t", "exec")
    TIMINGS["native no-op rebuild + run"] = took
    assert "qnnc: generating" not in out and "qnnc: kws:" not in out, out[-4000:]
    assert "Compiling" not in out, out[-4000:]
    assert "qnnc: 10/10 match reference" in out
    assert generated(sample) == before


def test_touching_the_model_without_changing_it_does_not_regenerate(first_build, core, sample):
    model = sample.parents[1] / "models" / "kws" / "kws.onnx"
    os.utime(model)
    rc, out, _ = pio(core, sample, "run", "-e", "native")
    assert "qnnc: generating" not in out, out[-4000:]


def test_pio_test_runs_the_unity_test(first_build, core, sample):
    rc, out, took = pio(core, sample, "test", "-e", "native")
    TIMINGS["native pio test"] = took
    for case in ("test_run_matches_reference", "test_invoke_with_own_arena_matches_reference",
                 "test_init_rejects_small_arena", "test_float_api_matches_reference"):
        assert re.search(rf"{case}\s+\[PASSED\]", out), out[-4000:]
    assert "4 test cases: 4 succeeded" in out, out[-4000:]
    assert "qnnc: generating" not in out  # the test build reuses the generated code


def test_changing_the_model_regenerates(first_build, core, sample):
    import onnx

    path = sample.parents[1] / "models" / "kws" / "kws.onnx"
    model = onnx.load(str(path))
    model.doc_string = "changed by test_platformio"
    onnx.save(model, str(path))
    rc, out, took = pio(core, sample, "run", "-e", "native", "-t", "exec")
    TIMINGS["native rebuild after a model change"] = took
    assert f"{GENERATING} from " in out and "(kws.onnx changed)" in out, out[-4000:]
    assert "qnnc: 10/10 match reference" in out
    rc, out, _ = pio(core, sample, "run", "-e", "native")
    assert "qnnc: generating" not in out


def test_changing_the_config_regenerates_and_the_new_code_runs(first_build, core, sample):
    config = sample.parents[1] / "models" / "kws" / "kws.yaml"
    config.write_text(config.read_text().replace("count: 10", "count: 4"))
    rc, out, _ = pio(core, sample, "run", "-e", "native", "-t", "exec")
    assert "(kws.yaml changed)" in out, out[-4000:]
    assert len(result_lines(out)) == 4
    assert "qnnc: 4/4 match reference" in out, out[-4000:]


def test_generator_error_fails_the_build_with_its_message(first_build, core, sample):
    config = sample.parents[1] / "models" / "kws" / "kws.yaml"
    good = config.read_text()
    line = good.splitlines().index("  data: calibration.npz") + 1
    config.write_text(good.replace("data: calibration.npz", "data: no-such-file.npz"))
    try:
        rc, out, _ = pio(core, sample, "run", "-e", "native", check=False)
        assert rc != 0
        # qnnc's own message, with the config's file:line and key
        assert (f"qnnc: error: {config}:{line}, key 'calibration.data': data file "
                f"'{config.parent / 'no-such-file.npz'}' does not exist") in out, out[-4000:]
    finally:
        config.write_text(good)


def test_a_config_without_calibration_data_fails_the_firmware_build(first_build, core, sample):
    """A firmware build never ships a model calibrated on random inputs by accident: without
    calibration.data the build fails naming the config; the explicit opt-in builds."""
    config = sample.parents[1] / "models" / "kws" / "kws.yaml"
    good = config.read_text()
    no_data = good.replace("calibration:\n  data: calibration.npz\n  method: minmax\n", "")
    assert "calibration" not in no_data
    try:
        config.write_text(no_data)
        rc, out, _ = pio(core, sample, "run", "-e", "native", check=False)
        assert rc != 0, out[-4000:]
        assert f"qnnc: error: {config}, key 'calibration.data': no calibration data" in out, out[-4000:]
        config.write_text(no_data + "calibration:\n  random_inputs: true\n")
        rc, out, _ = pio(core, sample, "run", "-e", "native")
        assert "calibrated on RANDOM inputs" in out, out[-4000:]
    finally:
        config.write_text(good)


def test_a_failed_generation_keeps_the_previous_state(first_build, core, sample):
    """After a generation that failed, the next build regenerates the model because its config
    changed (not as a "first build") and recompiles none of the kernels."""
    config = sample.parents[1] / "models" / "kws" / "kws.yaml"
    good = config.read_text()
    pio(core, sample, "run", "-e", "native")  # current
    try:
        config.write_text(good + "ram_budget: 1000\n")
        rc, out, _ = pio(core, sample, "run", "-e", "native", check=False)
        assert rc != 0 and "RAM budget exceeded" in out, out[-4000:]
        config.write_text(good + "# fixed\n")
        rc, out, _ = pio(core, sample, "run", "-e", "native")
        assert f"{GENERATING} from " in out and "(kws.yaml changed)" in out, out[-4000:]
        assert "(first build)" not in out, out[-4000:]
        assert "qnnc_runtime/" not in "".join(ln for ln in out.splitlines(True)
                                               if ln.startswith("Compiling")), out[-4000:]
    finally:
        config.write_text(good)


@pytest.mark.parametrize("option, message", [
    ("custom_qnnc_ram_budget = 12 KiB",
     "RAM budget exceeded: the arena needs 16000 B but custom_qnnc_ram_budget in platformio.ini "
     "allows 12288 B"),
    ("custom_qnnc_flash_budget = 20 KiB",
     "flash budget exceeded: weights and tables need 30096 B but custom_qnnc_flash_budget in "
     "platformio.ini allows 20480 B"),
    ("custom_qnnc_ram_budget = lots",
     "qnnc: error: custom_qnnc_ram_budget in platformio.ini expects a size in bytes"),
    ("custom_qnnc_name = qnnc_kws",
     "qnnc: error: custom_qnnc_name in platformio.ini: the model name 'qnnc_kws' is reserved"),
    ("custom_qnnc_kernels_opt = fast",
     "custom_qnnc_kernels_opt in platformio.ini: expected an optimization flag such as -O2 or -O3, or "
     "'project', got 'fast'"),
], ids=["ram", "flash", "bad-size", "name", "kernels-opt"])
def test_option_errors_name_the_platformio_option(first_build, core, sample, option, message):
    """Messages name the platformio.ini option the user wrote, not the generator's CLI flags."""
    ini = sample / "platformio.ini"
    good = ini.read_text()
    ini.write_text(good.replace("[env:native]", f"[env:native]\n{option}", 1))
    try:
        rc, out, _ = pio(core, sample, "run", "-e", "native", check=False)
        assert rc != 0
        assert message in out, out[-4000:]
        assert "--ram-budget" not in out and "--flash-budget" not in out and "--name" not in out
    finally:
        ini.write_text(good)


@pytest.mark.qemu
def test_cortex_m4_on_qemu_run_and_test(first_build, core, sample):
    """The same sample on a Cortex-M4F (QEMU mps2-an386, arm-none-eabi-gcc, newlib-nano)."""
    if not pio_fixture.qemu_available():
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    env = "mps2_an386"  # in the sample's platformio.ini, as documented
    rc, out, took = pio(core, sample, "run", "-e", env, "-t", "upload")
    TIMINGS["cortex-m4 build + QEMU run"] = took
    ram = re.search(r"RAM:.*used (\d+) bytes", out)
    flash = re.search(r"Flash:.*used (\d+) bytes", out)
    assert ram and flash, out[-4000:]
    TIMINGS["cortex-m4 flash bytes"] = int(flash.group(1))
    assert "Running .pio/build/mps2_an386/program.elf in QEMU" in out, out[-4000:]
    # the board's CPU and flash (upload.maximum_size) reach execution.wide_weights: auto, so the KWS
    # classifier (64 -> 12) and its convs run the int16-weight DSP kernels here, still bit-exact
    assert re.search(r"execution\.wide_weights: 1 fully connected layer\(s\) and [1-9]\d* conv layer\(s\) with "
                     r"int16 weights", out), out[-4000:]
    assert all(r[3] == "matches reference" for r in result_lines(out)) and result_lines(out)
    assert re.search(r"^qnnc: (\d+)/\1 match reference$", out, re.M), out[-4000:]
    rc, out, took = pio(core, sample, "test", "-e", env)
    TIMINGS["cortex-m4 pio test"] = took
    assert "4 test cases: 4 succeeded" in out, out[-4000:]


# ------------------------------------------------------ packed library --

PACKED_MAIN = r"""
#include <stdio.h>
#include "kws.h"
#include "kws_test_data.h"
#include "digits.h"
#include "digits_test_data.h"

#define CHECK(name, NAME)                                                        \
    do {                                                                         \
        int8_t out[NAME##_OUTPUT_SIZE];                                          \
        int ok = 0;                                                              \
        for (int t = 0; t < NAME##_TEST_COUNT; t++) {                            \
            int same = name##_run(name##_test_inputs[t], out) == 0;              \
            for (int i = 0; i < NAME##_OUTPUT_SIZE; i++)                         \
                same = same && out[i] == name##_test_expected[t][i];             \
            ok += same;                                                          \
        }                                                                        \
        printf("%s: %d/%d match reference\n", #name, ok, NAME##_TEST_COUNT);     \
        bad += NAME##_TEST_COUNT - ok;                                           \
    } while (0)

int main(void)
{
    int bad = 0;
    CHECK(kws, KWS);
    CHECK(digits, DIGITS);
    return bad != 0;
}
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory, core) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(REPO / "platformio_lib" / "pack.py"), "-o",
                           str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=pio_fixture.pio_environ(core))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("SPDX license list unreachable") <= 1, proc.stdout  # said once at most
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.name == "qnnc-0.1.0.tar.gz" and path.is_file()
    return path


def test_packed_archive_is_self_contained(archive):
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("library.json"))
        reqs = tar.extractfile("python/requirements.txt").read().decode()
    assert manifest["name"] == "qnnc" and manifest["version"] == "0.1.0"
    assert {"qnnc_build.py", "python/qnnc/__main__.py", "python/qnnc/cli.py",
            "python/qnnc/runtime/include/qnnc_kernels.h"} <= names
    kernels = {p.name for p in (REPO / "plugin" / "qnnc" / "runtime" / "src").glob("*.c")}
    assert kernels and {f"python/qnnc/runtime/src/{k}" for k in kernels} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    packed = [ln for ln in reqs.splitlines() if ln and not ln.startswith("#")]
    assert {"numpy>=1.22", "onnx>=1.13", "pyyaml>=6.0"} <= set(packed), packed
    try:
        import tomllib  # Python >= 3.11
    except ImportError:  # pragma: no cover
        return
    assert packed == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def test_packed_archive_works_as_lib_deps_with_two_models(archive, core, tmp_path):
    """A project outside the repository: lib_deps = the archive, two models."""
    project = tmp_path / "packed"
    (project / "src").mkdir(parents=True)
    models = REPO / "samples" / "models"
    (project / "platformio.ini").write_text(f"""
[env:native]
platform = native
build_flags = -Os
lib_deps = file://{archive}
custom_qnnc_models =
    kws: {models}/kws/kws.onnx, {models}/kws/kws.yaml
    digits: {models}/digits/digits.onnx
""")
    (project / "src" / "main.c").write_text(PACKED_MAIN)
    rc, out, took = pio(core, project, "run", "-v", "-e", "native", "-t", "exec")
    TIMINGS["packed library, 2 models: first build + run"] = took
    # a size-optimized project still gets -O2 kernels (custom_qnnc_kernels_opt's default); the
    # generated model code keeps the project's level
    compiles = [ln for ln in out.splitlines() if " -c " in ln and ln.rstrip().endswith(".c")]
    kernel = [ln for ln in compiles if ln.rstrip().endswith("qnnc_conv_s8.c")]
    model = [ln for ln in compiles if ln.rstrip().endswith("/kws.c")]
    assert kernel and model, out[-4000:]
    assert " -O2" in kernel[0] and " -Os" not in kernel[0], kernel[0]
    assert " -Os" in model[0], model[0]
    installed = project / ".pio" / "libdeps" / "native" / "qnnc"
    assert f"qnnc: generator {installed / 'python' / 'qnnc'}" in out, out[-4000:]
    assert "qnnc: generating kws" in out and "qnnc: generating digits" in out
    assert "kws: 10/10 match reference" in out, out[-4000:]
    assert "digits: 10/10 match reference" in out, out[-4000:]
    assert not (installed / "python" / "qnnc" / "__pycache__").exists()

    # missing generator dependencies with custom_qnnc_install_deps = no: one clear message
    (installed / "python" / "requirements.txt").write_text("numpy>=999\n")
    ini = project / "platformio.ini"
    ini.write_text(ini.read_text() + "custom_qnnc_install_deps = no\n")
    with open(installed / "python" / "qnnc" / "__init__.py", "a") as f:
        f.write("\n")  # a generator change: it must run again, so check its dependencies
    rc, out, _ = pio(core, project, "run", "-e", "native", check=False)
    assert rc != 0
    assert "qnnc: error: the qnnc generator needs numpy>=999" in out, out[-4000:]
    assert "-m pip install 'numpy>=999'" in out


def test_assembled_folder_in_project_lib(core, tmp_path):
    """pack.py --folder into the project's lib/, named in lib_deps; single-model options with
    the name taken from the config's `name:`."""
    project = tmp_path / "libfolder"
    (project / "src").mkdir(parents=True)
    subprocess.run([sys.executable, str(REPO / "platformio_lib" / "pack.py"), "--folder",
                    str(project / "lib")], check=True, stdout=subprocess.DEVNULL)
    shutil.copy2(SAMPLE / "src" / "main.c", project / "src" / "main.c")
    model = REPO / "samples" / "models" / "kws" / "kws.onnx"
    (project / "platformio.ini").write_text(
        f"[env:native]\nplatform = native\nlib_deps = qnnc\ncustom_qnnc_model = {model}\n")
    rc, out, _ = pio(core, project, "run", "-e", "native", "-t", "exec")
    assert "qnnc: generating kws" in out
    assert "qnnc: 10/10 match reference" in out, out[-4000:]


def test_project_without_a_model_is_left_alone(archive, core, tmp_path):
    project = tmp_path / "nomodel"
    (project / "src").mkdir(parents=True)
    (project / "platformio.ini").write_text(
        f"[env:native]\nplatform = native\nlib_deps = file://{archive}\n")
    (project / "src" / "main.c").write_text(
        '#include <stdio.h>\nint main(void) { puts("no model here"); return 0; }\n')
    rc, out, _ = pio(core, project, "run", "-e", "native", "-t", "exec")
    assert "no model here" in out
    assert "qnnc:" not in out, out[-4000:]
    assert not (project / ".pio" / "build" / "native" / "qnnc").exists()


def test_library_version_matches_the_package():
    manifest = json.loads((REPO / "platformio_lib" / "library.json").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    assert manifest["name"] == "qnnc"
    assert manifest["frameworks"] == "*" and manifest["platforms"] == "*"
    assert f'version = "{manifest["version"]}"' in pyproject
    assert manifest["build"]["extraScript"] == "qnnc_build.py"


def teardown_module(module):
    if TIMINGS:
        print("\nPlatformIO timings: " + json.dumps({k: round(v, 1) if isinstance(v, float)
                                                   else v for k, v in TIMINGS.items()}))
