"""The ``qnnc`` command line: build, inspect, validate, deps, runtime-path.

User errors print one paragraph and exit with code 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import List, Optional

from . import __version__
from .errors import QnncError

EXIT_USER_ERROR = 2
EXIT_INTERNAL = 3
EXIT_OUTPUT_CLOSED = 141  # the reader of stdout went away (as a SIGPIPE'd Unix tool: 128 + 13)
# plan.cost_model.CORES, written out so the CLI starts without numpy (tests/test_cost_model.py compares)
TARGET_CORES = ("m0", "m0plus", "m3", "m4", "m7", "m33", "m55", "m85", "riscv")


def _config(path: Optional[str]):
    from .config import load_config
    return load_config(path)


def cmd_build(args) -> int:
    from .build import build, default_name
    cfg = _config(args.config)
    cfg.target = args.target or cfg.target  # --target (what a build system knows) wins over target:
    name = default_name(args.model, cfg, args.name)
    origin = _budget_origins(args.budget_origin)
    result = build(args.model, cfg, args.output, name, runtime=args.runtime == "copy", progress=not args.quiet,
                   ram_budget=_size(args.ram_budget, origin.get("ram", "--ram-budget")),
                   flash_budget=_size(args.flash_budget, origin.get("flash", "--flash-budget")),
                   budget_origin=origin, require_calibration=args.require_calibration,
                   flash_size=_size(args.flash_size, "--flash-size"))
    for note in result.compiled.model.notes:
        print(f"qnnc: note: {note}", file=sys.stderr)
    if args.config is None:
        print("qnnc: note: no --config given: defaults used (int8; int16 for LSTM/GRU layers and their "
              "successors; per-channel weights; min-max ranges)", file=sys.stderr)
    if result.compiled.calibration.startswith("RANDOM") and not cfg.random_calibration:
        _random_calibration_warning(result.compiled.calibration_samples, len(result.compiled.graph.bn_stats))
    print(result.summary)
    if args.verbose:
        from .report import layer_table
        print(layer_table(result.report))
    return 0


def _random_calibration_warning(samples: int, batchnorm_layers: int = 0) -> None:
    """The warning nobody can miss: this output is for sizing and coverage checks only (and, for a
    model with BatchNormalization statistics, the data-free option)."""
    rule = "qnnc: WARNING: " + "*" * 72
    print("\n".join([
        rule,
        f"qnnc: WARNING: NO CALIBRATION DATA: activation ranges come from {samples} random inputs.",
        "qnnc: WARNING: This output is for sizing and coverage checks only: its results on real data are",
        "qnnc: WARNING: wrong. Name representative inputs in the config's calibration.data. Firmware builds",
        "qnnc: WARNING: (Zephyr, PlatformIO: --require-calibration) refuse this configuration.",
        *([f"qnnc: WARNING: Without data: the model has {batchnorm_layers} BatchNormalization layer(s);",
           "qnnc: WARNING: 'calibration: {method: batchnorm}' derives data-free ranges from their statistics."]
          if batchnorm_layers else []),
        rule]), file=sys.stderr)


def _size(text: Optional[str], flag: str) -> Optional[int]:
    """``text`` as a budget in bytes; ``flag`` is what the user wrote it as (CLI flag, Kconfig
    symbol or platformio.ini key), named in errors."""
    from .config import parse_bytes
    if text is None:
        return None
    n = parse_bytes(int(text) if text.isdigit() else text)
    if n is None:
        raise QnncError(f"{flag} expects a size in bytes such as 20000, 20KiB or 1MiB, got {text!r}")
    return n


def _budget_origins(text: Optional[str]) -> dict:
    """--budget-origin "ram=CONFIG_QNNC_RAM_BUDGET,flash=CONFIG_QNNC_FLASH_BUDGET" -> {kind: name}."""
    origins = {}
    for item in (text or "").split(","):
        kind, sep, what = (part.strip() for part in item.partition("="))
        if not item.strip():
            continue
        if not sep or kind not in ("ram", "flash") or not what:
            raise QnncError(f"--budget-origin expects ram=NAME and/or flash=NAME separated by a comma, got {text!r}")
        origins[kind] = what
    return origins


def cmd_deps(args) -> int:
    from .build import input_files
    cfg = _config(args.config)
    for p in input_files(args.model, cfg):
        print(p)
    return 0


def cmd_runtime_path(args) -> int:
    from .runtime import RUNTIME_DIR
    print(RUNTIME_DIR)
    return 0


def cmd_inspect(args) -> int:
    from .inspect_model import inspect_model
    info = inspect_model(args.model, _config(args.config) if args.config else None)
    if args.json:
        print(json.dumps(info, indent=1, sort_keys=True))
    else:
        from .inspect_model import format_inspection
        print(format_inspection(info))
    return 0 if info["compiles"] else EXIT_USER_ERROR


def cmd_ops(args) -> int:
    from .passes.operators import NO_KERNEL, OPERATORS, markdown_table
    from .quantize.lower_graph import RULES
    if args.markdown:
        sys.stdout.write(markdown_table(frozenset(RULES[16])))
    else:
        width = max(map(len, OPERATORS))
        for op in sorted(OPERATORS):
            canonical, notes = OPERATORS[op]
            int16 = ("int16" if canonical in RULES[16] else "no kernel" if canonical in NO_KERNEL
                     else "int8 inside int16 plans")
            print(f"{op:<{width}}  {notes}{'; ' if notes else ''}{int16}")
    return 0


def cmd_report(args) -> int:
    from .build import default_name, generate
    from .report.pages import html_report, markdown_report
    cfg = _config(args.config)
    cfg.target = args.target or cfg.target
    result = generate(args.model, cfg, default_name(args.model, cfg, args.name), runtime=False,
                      progress=False)
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(html_report(result.report))
        except OSError as e:
            raise QnncError(f"cannot write the HTML report ({e.strerror or e})", file=args.html, key="--html") from None
    print(markdown_report(result.report), end="")
    return 0


def cmd_validate(args) -> int:
    from .validate import format_validation, validate
    cfg = _config(args.config)
    res = validate(args.model, cfg, args.data, name=args.name, limit=args.limit, sanitize=not args.no_sanitize,
                   progress=not (args.json or args.quiet))
    print(json.dumps(res, indent=1, sort_keys=True) if args.json else format_validation(res))
    return 0 if res["bit_exact"] else 1


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of samples >= 1, got {text!r}")
    return int(text)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qnnc", description="Quantized neural-network compiler for microcontrollers: "
                                "ONNX + YAML -> static, integer-only C.")
    p.add_argument("--version", action="version", version=f"qnnc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate C for a model")
    b.add_argument("model", help="float ONNX model")
    b.add_argument("--config", "-c", help="YAML quantization config")
    b.add_argument("--output", "-o", required=True, help="output folder")
    b.add_argument("--name", help="C symbol prefix (default: config name or model file stem)")
    b.add_argument("--runtime", choices=["copy", "none"], default="copy",
                   help="copy the kernel sources the model uses into the output (default), or not (the "
                        "Zephyr/PlatformIO integrations compile the shared kernel library once)")
    b.add_argument("--ram-budget", help="fail if the arena needs more bytes (overrides ram_budget)")
    b.add_argument("--flash-budget", help="fail if weights and tables need more bytes (overrides flash_budget)")
    b.add_argument("--flash-size", help="the board's flash in bytes (build systems pass it): with "
                   "execution.wide_weights: auto and a DSP --target (m4/m7/m33), fully connected and conv layers take int16 "
                   "weights while constant data stays within half of it")
    b.add_argument("--budget-origin", metavar="ram=NAME,flash=NAME",
                   help="for build systems: the setting --ram-budget/--flash-budget came from (e.g. "
                        "ram=CONFIG_QNNC_RAM_BUDGET), named in budget errors instead of the flag")
    b.add_argument("--require-calibration", action="store_true",
                   help="for firmware builds: fail unless the config names calibration data (or opts in to "
                        "random inputs with calibration.random_inputs: true, or to data-free ranges from "
                        "BatchNormalization statistics with calibration.method: batchnorm); the Zephyr module and the "
                        "PlatformIO library always pass it")
    b.add_argument("--target", choices=TARGET_CORES, help="core the report's expected instructions are for "
                   "(overrides the config's target:; default m4, stated as assumed)")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    b.add_argument("--verbose", "-v", action="store_true", help="print the per-layer table")
    b.set_defaults(fn=cmd_build)

    i = sub.add_parser("inspect", help="ops, shapes, MACs, parameters, and what is unsupported",
                       description="List the model's nodes with shapes, MACs and parameters, and say which "
                                   "ops qnnc cannot compile. Exit 0 if it compiles, 2 if not.")
    i.add_argument("model", help="float ONNX model")
    i.add_argument("--config", "-c", help="YAML config (its input_shape pins dynamic dimensions)")
    i.add_argument("--json", action="store_true", help="print the inspection as JSON instead of a table")
    i.set_defaults(fn=cmd_inspect)

    v = sub.add_parser("validate", help="compile the C on this host, run it on data, compare with the "
                                        "reference and float onnxruntime")
    v.add_argument("model", help="float ONNX model")
    v.add_argument("--config", "-c", help="YAML quantization config (as for build)")
    v.add_argument("--data", "-d", required=True, help=".npz/.npy test inputs (x, optional labels y)")
    v.add_argument("--name", help="C symbol prefix (default: config name or model file stem)")
    v.add_argument("--limit", type=_positive, metavar="N",
                   help="use only the first N samples of --data (default: all; a quick check of a large "
                        "test set, e.g. --limit 500)")
    v.add_argument("--no-sanitize", action="store_true", help="build without -fsanitize=address,undefined "
                                                              "(faster; sanitizers are on by default)")
    v.add_argument("--json", action="store_true", help="print the results as JSON (no progress output)")
    v.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    v.set_defaults(fn=cmd_validate)

    rp = sub.add_parser("report", help="per-layer RAM/flash/MACs report (Markdown; --html for a page "
                                       "with the memory timeline)")
    rp.add_argument("model", help="float ONNX model")
    rp.add_argument("--config", "-c", help="YAML quantization config (as for build)")
    rp.add_argument("--name", help="C symbol prefix (default: config name or model file stem)")
    rp.add_argument("--html", help="also write the HTML report to this file")
    rp.add_argument("--target", choices=TARGET_CORES, help="core of the expected instructions (as for build)")
    rp.set_defaults(fn=cmd_report)

    o = sub.add_parser("ops", help="the ONNX operators qnnc compiles, with what each supports")
    o.add_argument("--markdown", action="store_true", help="as the README's Markdown table")
    o.set_defaults(fn=cmd_ops)
    d = sub.add_parser("deps", help="print every input file a build reads (for build systems)")
    d.add_argument("model", help="float ONNX model")
    d.add_argument("--config", "-c", help="YAML config (its calibration and test data files are listed too)")
    d.set_defaults(fn=cmd_deps)

    r = sub.add_parser("runtime-path", help="print the folder of the C kernel library")
    r.set_defaults(fn=cmd_runtime_path)
    for action in sub._choices_actions:  # `qnnc <command> --help` starts with the command's summary
        parser = sub.choices[action.dest]
        if parser.description is None:
            parser.description = action.help[0].upper() + action.help[1:] + "."
    return p


def _output_closed() -> int:
    """stdout went to a pipe whose reader has exited (``qnnc inspect --json | head -1``): stop quietly,
    like Unix tools that SIGPIPE ends (exit 128 + 13). As the Python docs recommend, point stdout
    at devnull so the interpreter's final flush does not fail again."""
    for stream in (sys.stdout, sys.stderr):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (tests' StringIO)
            pass
    return EXIT_OUTPUT_CLOSED


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``qnnc`` command."""
    try:
        args = make_parser().parse_args(argv)
        rc = args.fn(args)
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        return _output_closed()
    except QnncError as e:
        print(f"qnnc: error: {e.format()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("qnnc: interrupted; the output folder is untouched or complete, never half-written", file=sys.stderr)
        return 130
    except Exception as e:  # a qnnc bug: say so plainly
        if os.environ.get("QNNC_DEBUG"):
            traceback.print_exc()
        print(f"qnnc: internal error ({type(e).__name__}: {e}); no output was written. Please report this "
              "with the model and config (set QNNC_DEBUG=1 for a traceback).", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
