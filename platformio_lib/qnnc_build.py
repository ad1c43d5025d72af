# qnnc PlatformIO extra script (library.json "build.extraScript").
#
# Reads the project's qnnc options, runs the qnnc generator (a subprocess of the
# Python that runs PlatformIO) into $BUILD_DIR/qnnc/<name>/, and adds the generated C
# and the qnnc kernel library to the build.  Options (platformio.ini, per env):
#
#   custom_qnnc_model  = model/kws.onnx       ; one model ...
#   custom_qnnc_config = model/kws.yaml       ; default: the model path with .yaml
#   custom_qnnc_name   = kws                  ; default: the config's name:, else
#                                             ;   the model file's stem
#
#   custom_qnnc_models =                      ; ... and/or several, one per line:
#       kws: model/kws.onnx, model/kws.yaml   ;   NAME: MODEL[, CONFIG]
#       digits: model/digits.onnx
#
#   custom_qnnc_ram_budget = 20 KiB           ; fail when the arena / the weights exceed
#   custom_qnnc_flash_budget = 64 KiB         ;   this (override ram_budget/flash_budget
#                                             ;   of the YAML)
#   custom_qnnc_install_deps = yes            ; pip-install missing generator deps
#   custom_qnnc_kernels_opt = -O2             ; optimization level of the kernel library
#                                             ;   (default -O2 whatever the project's level;
#                                             ;   "project" keeps the project's)
#
# Paths are relative to the project dir.  A model is regenerated only when its
# model, config, calibration/test data or the generator itself changed (content
# hashes kept in $BUILD_DIR/qnnc/<name>.stamp.json, with those of the generated
# files; a failed generation leaves the generated files and that stamp as they were).
# Projects naming no model are left alone.

import hashlib
import json
import os
import re
import subprocess
import sys
import time

from SCons.Script import ARGUMENTS, Import

Import("env")

try:
    Import("pio_lib_builder")
    LIB_DIR = os.path.realpath(pio_lib_builder.path)  # noqa: F821 (SCons export)
except Exception:  # not run as a library script: fall back to the script's folder
    LIB_DIR = os.path.realpath(os.getcwd())

STAMP_FORMAT = 2
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INI = "platformio.ini"
VERBOSE = int(ARGUMENTS.get("PIOVERBOSE", 0)) > 0


def log(msg):
    print("qnnc: " + msg)
    sys.stdout.flush()


def fail(msg):
    sys.stderr.write("qnnc: error: %s\n" % msg)
    sys.stderr.flush()
    env.Exit(1)


# ------------------------------------------------------------------ options --


def _option(name, default=""):
    value = env.GetProjectOption(name, default)
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    return (value or "").strip()


def _resolve(path):
    path = os.path.expanduser(path.strip().strip('"').strip("'"))
    if not os.path.isabs(path):
        path = os.path.join(env.subst("$PROJECT_DIR"), path)
    return os.path.normpath(path)


def _show(path):
    """``path`` relative to the project dir when inside it, else absolute."""
    try:
        rel = os.path.relpath(path, env.subst("$PROJECT_DIR"))
    except ValueError:  # another drive
        return path
    return path if rel.startswith(os.pardir) or os.path.isabs(rel) else rel


def _default_name(model):
    stem = os.path.splitext(os.path.basename(model))[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    return "_" + name if name[:1].isdigit() else name


def _config_name(config):
    """The config's top-level ``name:`` (the generator's own default), else None."""
    try:
        with open(_resolve(config)) as fp:
            m = re.search(r"^name:\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?\s*(?:#.*)?$",
                          fp.read(), re.M)
        return m.group(1) if m else None
    except OSError:
        return None


def _default_config(model):
    return os.path.splitext(model)[0] + ".yaml"


def _name_problem(name):
    """Why ``name`` cannot prefix the generated C symbols (the generator's rules, checked here
    so that the message names the platformio.ini option rather than the generator's --name)."""
    if not NAME_RE.match(name):
        return "is not a C identifier (letters, digits, _; not starting with a digit)"
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        return "is reserved in C (names starting with '__' or '_' and a capital letter)"
    if name.lower().startswith("qnnc"):
        return "is reserved: names starting with 'qnnc' belong to the kernel library"
    if len(name) > 40:
        return "has %d characters; use at most 40 (symbols get suffixes)" % len(name)
    return None


def model_specs():
    """[(name, model_path, config_path)] from the project options."""
    specs = []  # (name, model, config, where the name / model / config came from)
    model = _option("custom_qnnc_model")
    if model:
        config = _option("custom_qnnc_config")
        config_from = "custom_qnnc_config in " + INI
        if not config:
            config = _default_config(model)
            config_from = ("custom_qnnc_model in %s (its default config is the model path with "
                           ".yaml; set custom_qnnc_config)" % INI)
        name = _option("custom_qnnc_name")
        name_from = "custom_qnnc_name in " + INI
        if not name:
            name = _config_name(config)
            # a name: of the config is checked by the generator, with the config's line
            name_from = None if name else (
                "custom_qnnc_model in %s (the C name defaults to the model's file name; set "
                "custom_qnnc_name)" % INI)
            name = name or _default_name(model)
        specs.append((name, model, config, name_from, "custom_qnnc_model in " + INI, config_from))
    elif _option("custom_qnnc_config") or _option("custom_qnnc_name"):
        fail("custom_qnnc_config/custom_qnnc_name given in %s without custom_qnnc_model" % INI)
    models_from = "custom_qnnc_models in " + INI
    for line in _option("custom_qnnc_models").splitlines():
        line = line.split(";", 1)[0].strip()
        if not line:
            continue
        name, sep, rest = line.partition(":")
        parts = [p.strip() for p in rest.split(",")] if sep else []
        if not sep or not name.strip() or not parts[0] or len(parts) > 2:
            fail("%s: cannot read %r; write one model per line as "
                 "'NAME: MODEL.onnx[, CONFIG.yaml]'" % (models_from, line))
        config_from = models_from
        if not (len(parts) > 1 and parts[1]):
            config_from += " (the default config is the model path with .yaml)"
        specs.append((name.strip(), parts[0],
                      parts[1] if len(parts) > 1 and parts[1] else _default_config(parts[0]),
                      models_from, models_from, config_from))
    result, seen = [], set()
    for name, model, config, name_from, model_from, config_from in specs:
        problem = _name_problem(name) if name_from else None
        if problem:
            fail("%s: the model name %r %s" % (name_from, name, problem))
        if name.lower() in seen:
            fail("%s: the model name %r is used twice" % (name_from or models_from, name))
        seen.add(name.lower())
        model, config = _resolve(model), _resolve(config)
        for what, path, origin in (("model", model, model_from), ("config", config, config_from)):
            if not os.path.isfile(path):
                fail("%s: the %s %s does not exist" % (origin, what, path))
        result.append((name, model, config))
    return result


# ---------------------------------------------------------------- generator --


def find_generator():
    """(dir to put on PYTHONPATH, requirement list) for the qnnc generator package.

    A packed library carries it in python/ (see pack.py); a checkout of the qnnc
    repository has it in ../plugin next to platformio_lib/."""
    for root in (os.path.join(LIB_DIR, "python"), os.path.join(LIB_DIR, os.pardir, "plugin")):
        root = os.path.normpath(root)
        if os.path.isfile(os.path.join(root, "qnnc", "__main__.py")):
            return root, _requirements(root)
    fail("the qnnc generator is missing from the library at %s (expected python/qnnc "
         "in a packed library, or ../plugin/qnnc in a qnnc checkout). Reference a "
         "checkout with 'lib_deps = symlink:///path/to/qnnc/platformio_lib', or a packed "
         "archive made by 'python platformio_lib/pack.py'." % LIB_DIR)


def _requirements(root):
    req_txt = os.path.join(root, "requirements.txt")
    if os.path.isfile(req_txt):
        with open(req_txt) as fp:
            lines = [ln.split("#", 1)[0].strip() for ln in fp]
        return [ln for ln in lines if ln]
    pyproject = os.path.join(root, os.pardir, "pyproject.toml")
    if os.path.isfile(pyproject):
        with open(pyproject) as fp:
            text = fp.read()
        m = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M)
        if m:
            deps = "\n".join(ln.split("#", 1)[0] for ln in m.group(1).splitlines())  # no comments
            return re.findall(r"[\"']([^\"']+)[\"']", deps)
    return []


def _version_tuple(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:4])


def _satisfied(requirement):
    """True when the distribution in ``requirement`` ('onnx>=1.13') is installed
    in this interpreter at an acceptable version."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(.*)$", requirement)
    dist, spec = m.group(1), m.group(2).split(";", 1)[0]
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        import importlib.util

        module = {"pyyaml": "yaml"}.get(dist.lower(), dist.replace("-", "_"))
        return importlib.util.find_spec(module) is not None
    try:
        have = _version_tuple(metadata.version(dist))
    except metadata.PackageNotFoundError:
        return False
    for op, ver in re.findall(r"(>=|<=|==|!=|~=|>|<)\s*([0-9][0-9A-Za-z.*]*)", spec):
        want = _version_tuple(ver)
        n = len(want)
        cmp = (have[:n] > want) - (have[:n] < want)
        ok = {">=": cmp >= 0, ">": have > want, "<=": cmp <= 0, "<": have < want,
              "==": cmp == 0, "!=": cmp != 0, "~=": have >= want}[op]
        if not ok:
            return False
    return True


_deps_checked = []


def ensure_generator_deps(requirements):
    if _deps_checked:
        return
    python = _python()
    missing = [r for r in requirements if not _satisfied(r)]
    if missing and env.GetProjectOption("custom_qnnc_install_deps", "yes").lower() in (
            "yes", "true", "1", "on"):
        log("installing the generator's Python dependencies into PlatformIO's "
            "Python (%s): %s" % (python, " ".join(missing)))
        rc = subprocess.call([python, "-m", "pip", "install", "--disable-pip-version-check"]
                             + missing)
        if rc == 0:
            try:
                from importlib import invalidate_caches

                invalidate_caches()
            except ImportError:
                pass
            missing = [r for r in missing if not _satisfied(r)]
    if missing:
        fail("the qnnc generator needs %s in PlatformIO's Python; missing or too old: %s. "
             "Install them with: %s -m pip install %s"
             % (", ".join(requirements), ", ".join(missing), python,
                " ".join("'%s'" % r for r in missing)))
    _deps_checked.append(True)


def _python():
    exe = env.subst("$PYTHONEXE")
    return exe if exe and os.path.isfile(exe) else sys.executable


def run_generator(gen_root, args):
    genenv = dict(os.environ)
    genenv["PYTHONPATH"] = os.pathsep.join(
        [gen_root] + ([genenv["PYTHONPATH"]] if genenv.get("PYTHONPATH") else []))
    genenv["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the library folder clean
    proc = subprocess.Popen([_python(), "-m", "qnnc"] + args, env=genenv,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    out, err = proc.communicate()
    return proc.returncode, out, err


def generator_files(gen_root):
    """Every file of the generator package: a change in any of them regenerates."""
    result = []
    pkg = os.path.join(gen_root, "qnnc")
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        result.extend(os.path.join(dirpath, f) for f in sorted(filenames)
                      if not f.endswith((".pyc", ".pyo")))
    return result


# ------------------------------------------------------------------ stamps --


def _digest(path, previous=None):
    st = os.stat(path)
    if previous and previous[0] == st.st_mtime_ns and previous[1] == st.st_size:
        return previous
    h = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            h.update(block)
    return [st.st_mtime_ns, st.st_size, h.hexdigest()]


def _load_stamp(path):
    try:
        with open(path) as fp:
            stamp = json.load(fp)
        return stamp if stamp.get("format") == STAMP_FORMAT else None
    except (OSError, ValueError):
        return None


def _write_stamp(path, stamp):
    tmp = path + ".tmp"
    with open(tmp, "w") as fp:
        json.dump(stamp, fp, indent=1, sort_keys=True)
    os.replace(tmp, path)


def why_regenerate(stamp, key, gen_files, out_dir):
    """None when the generated code is current, else a short reason.

    The stamp is that of the last successful generation; a failed one leaves it (and the
    output folder, which the generator replaces only when it succeeds) as it was."""
    if stamp is None:
        return "first build"
    if stamp.get("key") != key:
        return "options changed"
    files = stamp.get("files", {})
    if sorted(stamp.get("generator", [])) != sorted(gen_files):
        return "generator changed"
    for path, previous in list(files.items()):
        try:
            now = _digest(path, previous)
        except OSError:
            return "%s is gone" % os.path.basename(path)
        if now[2] != previous[2]:
            return ("generator changed" if path in stamp.get("generator", [])
                    else "%s changed" % os.path.basename(path))
        if now is not previous:  # same content, new mtime: remember it
            files[path] = now
            stamp["_dirty"] = True
    outputs = stamp.get("outputs", {})
    for name, previous in list(outputs.items()):
        try:
            now = _digest(os.path.join(out_dir, name), previous)
        except OSError:
            return "%s is missing" % name
        if now[2] != previous[2]:
            return "generated %s changed" % name
        if now is not previous:
            outputs[name] = now
            stamp["_dirty"] = True
    return None


def budget_args():
    """--ram-budget/--flash-budget from custom_qnnc_ram_budget / custom_qnnc_flash_budget
    (override the YAML); errors name those options, not the generator's flags."""
    args, origins = [], []
    for kind in ("ram", "flash"):
        option = "custom_qnnc_%s_budget" % kind
        value = _option(option)
        if value:
            args += ["--%s-budget" % kind, value]
            origins.append("%s=%s in %s" % (kind, option, INI))
    return args + (["--budget-origin", ",".join(origins)] if origins else [])


CORES = {"cortex-m0": "m0", "cortex-m0plus": "m0plus", "cortex-m3": "m3", "cortex-m4": "m4",
         "cortex-m7": "m7", "cortex-m33": "m33", "cortex-m55": "m55", "cortex-m85": "m85"}


def target_args():
    """--target from the board's CPU (board_build.cpu, e.g. cortex-m4): the core the report's
    expected instructions are for. Another CPU: none (the generator assumes one and says so)."""
    if not env.subst("$BOARD"):  # e.g. the native platform: BoardConfig() would end the build
        return []
    try:
        cpu = str(env.BoardConfig().get("build.cpu", "")).lower()
    except Exception:  # noqa: BLE001 - a board without a readable CPU: nothing to pass
        cpu = ""
    return ["--target", CORES[cpu]] if cpu in CORES else []


def flash_size_args():
    """--flash-size from the board's upload.maximum_size (bytes): execution.wide_weights: auto
    gives fully connected and conv layers int16 weights on DSP cores while constant data fits half of it."""
    if not env.subst("$BOARD"):
        return []
    try:
        size = int(env.BoardConfig().get("upload.maximum_size", 0))
    except Exception:  # noqa: BLE001 - no readable size: the generator keeps int8 weights
        size = 0
    return ["--flash-size", str(size)] if size > 0 else []


def generate(name, model, config, gen_root, requirements, qnnc_dir):
    out_dir = os.path.join(qnnc_dir, name)
    stamp_path = os.path.join(qnnc_dir, name + ".stamp.json")
    budgets = budget_args() + target_args() + flash_size_args()
    key = json.dumps([name, model, config, gen_root, _python()] + budgets)
    gen_files = generator_files(gen_root)
    stamp = _load_stamp(stamp_path)
    reason = why_regenerate(stamp, key, gen_files, out_dir)
    if reason is None:
        if stamp.pop("_dirty", False):
            _write_stamp(stamp_path, stamp)  # refreshed mtimes save re-hashing
        if VERBOSE:
            log("%s is up to date (%s)" % (name, _show(out_dir)))
        return out_dir

    ensure_generator_deps(requirements)
    rc, out, err = run_generator(gen_root, ["deps", model, "--config", config])
    if rc != 0:
        sys.stderr.write(err)
        fail("cannot read the inputs of model %s (%s, %s)" % (name, model, config))
    inputs = [ln.strip() for ln in out.splitlines() if ln.strip()]
    inputs = sorted(set(inputs) | {model, config})
    files = {}
    for path in inputs + gen_files:
        try:
            files[path] = _digest(path)
        except OSError:
            fail("model %s: input %s does not exist" % (name, path))

    log("generating %s from %s (%s)" % (name, _show(model), reason))
    # The stamp of the last good generation stays until this one succeeds: the generator
    # leaves its output folder untouched when it fails, so after a failure the next build
    # regenerates only what changed since (not a "first build").
    started = time.time()
    rc, out, err = run_generator(gen_root, [
        "build", model, "--config", config, "--output", out_dir, "--name", name,
        "--runtime", "none", "--require-calibration"] + budgets)
    sys.stdout.write(out)
    sys.stderr.write(err)
    if rc != 0:
        fail("generating model %s failed (exit %d); see the message above" % (name, rc))
    if VERBOSE:
        log("%s generated in %.1f s into %s" % (name, time.time() - started, out_dir))
    outputs = {f: _digest(os.path.join(out_dir, f)) for f in sorted(os.listdir(out_dir))
               if os.path.isfile(os.path.join(out_dir, f))}
    _write_stamp(stamp_path, {"format": STAMP_FORMAT, "key": key, "files": files,
                              "generator": gen_files, "outputs": outputs})
    return out_dir


def runtime_dir(gen_root):
    candidate = os.path.join(gen_root, "qnnc", "runtime")
    if os.path.isfile(os.path.join(candidate, "include", "qnnc_kernels.h")):
        return candidate
    rc, out, err = run_generator(gen_root, ["runtime-path"])
    path = out.strip()
    if rc != 0 or not os.path.isfile(os.path.join(path, "include", "qnnc_kernels.h")):
        sys.stderr.write(err)
        fail("cannot locate the qnnc kernel library (qnnc runtime-path)")
    return path


# -------------------------------------------------------------------- main --


def main():
    specs = model_specs()
    if not specs:
        return  # no model named: nothing to do
    gen_root, requirements = find_generator()
    if VERBOSE:
        log("generator %s" % os.path.join(gen_root, "qnnc"))
    qnnc_dir = os.path.join(env.subst("$BUILD_DIR"), "qnnc")
    if not os.path.isdir(qnnc_dir):
        os.makedirs(qnnc_dir)
    out_dirs = [generate(name, model, config, gen_root, requirements, qnnc_dir)
                for name, model, config in specs]
    runtime = runtime_dir(gen_root)

    env.Append(CPPPATH=[os.path.join(runtime, "include")] + out_dirs)
    build_root = os.path.join("$BUILD_DIR", "qnnc", "build")
    sources = [(os.path.join(build_root, name), out_dir)
               for (name, _, _), out_dir in zip(specs, out_dirs)]
    sources.append((os.path.join(build_root, "qnnc_runtime"), os.path.join(runtime, "src")))
    kernels_env = kernel_env()
    if env.GetProjectOption("lib_archive", True):
        # archives: the linker takes only the kernels the models use
        libs = []
        for variant, src in sources:
            e = kernels_env if variant.endswith("qnnc_runtime") else env
            libs.extend(env.Flatten([e.BuildLibrary(variant, src)]))
        env.Prepend(LIBS=libs)
    else:
        for variant, src in sources:
            (kernels_env if variant.endswith("qnnc_runtime") else env).BuildSources(variant, src)


def kernel_env():
    """The environment of the kernel library: the project's, at custom_qnnc_kernels_opt (default
    -O2: the kernels' own optimize pragma does not reach every target option GCC fixes for -Os)."""
    level = (_option("custom_qnnc_kernels_opt") or "-O2").strip()
    if level == "project":
        return with_reserved_registers(env.Clone())
    if not re.match(r"^-O[0-3sgz]?$|^-Ofast$", level):
        fail("custom_qnnc_kernels_opt in %s: expected an optimization flag such as -O2 or -O3, or "
             "'project', got %r" % (INI, level))
    kenv = env.Clone()
    kenv.Replace(CCFLAGS=[f for f in env.Flatten(kenv.get("CCFLAGS", []))
                          if not re.match(r"^-O([0-3sgz]|fast)?$", str(f))] + [level])
    return with_reserved_registers(kenv)


def with_reserved_registers(kenv):
    """A build that reserves r9 (-ffixed-r9, -msingle-pic-base, -mpic-register=r9) leaves 13
    registers: the channel-pair DSP conv loop then takes its 13-register form (QNNC_DSP_ASM_13;
    qnnc_dsp_mm2x3.h)."""
    flags = [str(f) for f in env.Flatten([kenv.get("CCFLAGS", []), kenv.get("CFLAGS", [])])]
    if any(f in ("-ffixed-r9", "-msingle-pic-base", "-mpic-register=r9") for f in flags):
        kenv.Append(CPPDEFINES=["QNNC_DSP_ASM_13"])
    return kenv


main()
