"""Finding a Zephyr tree and toolchains, and building / running Zephyr apps, for tests/test_zephyr.py.

A tree is `ZEPHYR_BASE`, else `~/zephyrproject/zephyr`; it must sit in a west workspace (as after
`west init` / `west update`) because the tests drive `west build`. Nothing here is Zephyr code.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO / "samples" / "zephyr"
MODULE_DIR = REPO / "zephyr_module"
MODELS_DIR = REPO / "samples" / "models"

NATIVE_BOARDS = ("native_sim", "native_sim_64")
QEMU_BOARDS = ("qemu_cortex_m3", "mps2_an521", "mps3_an547",  # M3, M33, M55 (DSP + Helium)
               "qemu_riscv32")  # rv32imac: the portable kernels
RISCV_BOARDS = ("qemu_riscv32",)
# Debian's riscv64-unknown-elf-gcc behind the module's wrapper (zephyr_module/scripts): see riscv_toolchain_env
RISCV_GCC_WRAPPER = MODULE_DIR / "scripts" / "riscv64-unknown-elf-gcc"
JOBS = os.environ.get("QNNC_ZEPHYR_JOBS", "2")  # the machines have 2 cores

# What each sample prints: (per-input result regex, number of such lines, final line).
SAMPLES = {
    "kws": (r"^input \d+: (\w+) \(-?\d+%\), label (\w+|\?), matches reference", 10,
            "qnnc: 10/10 match reference"),
    "digits": (r"^input \d+: digit (\d), label (-?\d+), matches reference", 10,
               "qnnc: 10/10 match reference"),
    "two_models": (r"^(?:kws|digits) input \d+: (\w+), matches reference", 20,
                   "qnnc: 20/20 match reference"),
}
KWS_CLASSES = ("Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence",
               "Unknown")


def find_tree() -> tuple[Path | None, str]:
    """(zephyr base, '') or (None, why not)."""
    env = os.environ.get("ZEPHYR_BASE")
    base = Path(env) if env else Path.home() / "zephyrproject" / "zephyr"
    where = f"ZEPHYR_BASE={env}" if env else str(base)
    if not (base / "VERSION").is_file() or not (base / "cmake" / "modules").is_dir():
        return None, (f"no Zephyr tree at {where} (set ZEPHYR_BASE or create ~/zephyrproject; "
                      "see README, Zephyr)")
    try:
        import west  # noqa: F401
    except ImportError:
        return None, f"west is not installed for {sys.executable} (pip install west)"
    if not any((p / ".west").is_dir() for p in base.resolve().parents):
        return None, f"the Zephyr tree {base} is not in a west workspace (west init -l {base})"
    return base, ""


TREE, NO_TREE_REASON = find_tree()


def zephyr_version() -> tuple[int, int]:
    text = (TREE / "VERSION").read_text()
    major = int(re.search(r"VERSION_MAJOR\s*=\s*(\d+)", text).group(1))
    minor = int(re.search(r"VERSION_MINOR\s*=\s*(\d+)", text).group(1))
    return major, minor


def board_reason(board: str) -> str:
    """'' when `board` can be built and run here, else why not."""
    if TREE is None:
        return NO_TREE_REASON
    if board in NATIVE_BOARDS:
        if not sys.platform.startswith("linux"):
            return f"{board} needs a Linux host"
        if not _has_board(board):
            return f"this Zephyr tree has no {board} board"
        if board == "native_sim" and not _host_can_build_m32():
            return "native_sim is 32-bit: gcc -m32 does not work (install gcc-multilib)"
        return ""
    if not _has_board(board):
        return f"this Zephyr tree has no {board} board"
    if board in RISCV_BOARDS:
        if riscv_toolchain_env() is None:
            return ("no RISC-V toolchain (Debian's gcc-riscv64-unknown-elf for the cross-compile variant, "
                    "or ZEPHYR_TOOLCHAIN_VARIANT=zephyr with the Zephyr SDK)")
        if shutil.which("qemu-system-riscv32") is None:
            return "qemu-system-riscv32 is not installed (Debian: qemu-system-misc)"
        return ""
    if arm_toolchain_env() is None:
        return ("no ARM toolchain (arm-none-eabi-gcc on PATH for gnuarmemb, or "
                "ZEPHYR_TOOLCHAIN_VARIANT=zephyr with the Zephyr SDK)")
    if shutil.which("qemu-system-arm") is None:
        return "qemu-system-arm is not installed"
    if not _has_cmsis():
        return "the CMSIS module (modules/hal/cmsis) is not in the west workspace"
    return ""


def _has_board(board: str) -> bool:
    return next(iter(TREE.glob(f"boards/**/{board}.yaml")), None) is not None


_M32: bool | None = None


def _host_can_build_m32() -> bool:
    global _M32
    if _M32 is None:
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "t.c"
            src.write_text("#include <stdio.h>\nint main(void) { return 0; }\n")
            r = subprocess.run(["gcc", "-m32", str(src), "-o", str(Path(d) / "t")],
                               capture_output=True)
            _M32 = r.returncode == 0
    return _M32


def _has_cmsis() -> bool:
    for parent in TREE.resolve().parents:
        if (parent / ".west").is_dir():
            return (parent / "modules" / "hal" / "cmsis" / "CMSIS").is_dir()
    return False


def arm_toolchain_env() -> dict | None:
    """Environment for ARM boards: the Zephyr SDK when asked for, else Debian-style gnuarmemb."""
    if os.environ.get("ZEPHYR_TOOLCHAIN_VARIANT") == "zephyr":
        return {"ZEPHYR_TOOLCHAIN_VARIANT": "zephyr"}
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return None
    return {"ZEPHYR_TOOLCHAIN_VARIANT": "gnuarmemb",
            "GNUARMEMB_TOOLCHAIN_PATH": str(Path(gcc).resolve().parent.parent)}


@functools.lru_cache(maxsize=None)
def riscv_toolchain_env() -> dict | None:
    """Environment for RISC-V boards: the Zephyr SDK when asked for, else Debian's
    riscv64-unknown-elf-gcc through the cross-compile variant, with the module's wrapper for its
    rv32 multilib lookup (a folder of links under build_root(), made once a run)."""
    if os.environ.get("ZEPHYR_TOOLCHAIN_VARIANT") == "zephyr":
        return {"ZEPHYR_TOOLCHAIN_VARIANT": "zephyr"}
    gcc = shutil.which("riscv64-unknown-elf-gcc")
    if gcc is None:
        return None
    real = Path(gcc).resolve()
    folder = build_root() / "riscv-toolchain"
    folder.mkdir(parents=True, exist_ok=True)
    for tool in real.parent.glob("riscv64-unknown-elf-*"):
        link = folder / tool.name
        target = RISCV_GCC_WRAPPER if tool.name == "riscv64-unknown-elf-gcc" else tool
        if not link.is_symlink() or link.resolve() != target.resolve():
            link.unlink(missing_ok=True)
            link.symlink_to(target)
    return {"ZEPHYR_TOOLCHAIN_VARIANT": "cross-compile", "QNNC_RISCV_GCC": str(real),
            "CROSS_COMPILE": str(folder / "riscv64-unknown-elf-")}


def werror_link_args(board: str) -> list:
    """CMake cache settings a warnings-as-errors build of `board` needs (NAME=value): Debian's
    binutils (>= 2.39) warns of the RWX load segment of this Zephyr's RISC-V link (-N), which
    --fatal-warnings makes an error; the SDK's older ld does not know the flag."""
    if board in RISCV_BOARDS and os.environ.get("ZEPHYR_TOOLCHAIN_VARIANT") != "zephyr":
        return ["EXTRA_LDFLAGS=-Wl,--no-warn-rwx-segments"]
    return []


def board_env(board: str) -> dict:
    env = dict(os.environ)
    env["ZEPHYR_BASE"] = str(TREE)
    env.pop("ZEPHYR_EXTRA_MODULES", None)
    # Zephyr compiles through ccache when it is installed (.ci/run installs it). One cache per
    # checkout, beside the build folders: the samples on one board compile the same Zephyr sources
    # with the same configuration, so each board's 2nd and 3rd sample reuse those objects (half the
    # build time). base_dir rewrites the build folders' own paths to relative ones, which are the
    # same in every build folder; the user's own ccache settings win.
    env.setdefault("CCACHE_DIR", str(build_root() / "ccache"))
    env.setdefault("CCACHE_BASEDIR", tempfile.gettempdir())
    env.setdefault("CCACHE_NOHASHDIR", "1")
    if board in NATIVE_BOARDS:
        env["ZEPHYR_TOOLCHAIN_VARIANT"] = "host"
    elif board in RISCV_BOARDS:
        env.update(riscv_toolchain_env() or {})
    else:
        env.update(arm_toolchain_env() or {})
    return env


def build_root() -> Path:
    """Build dirs persist across runs (incremental, `-p auto`); one tree per repository checkout."""
    root = os.environ.get("QNNC_ZEPHYR_BUILD_DIR")
    if root:
        return Path(root)
    key = hashlib.sha1(str(REPO).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"qnnc-zephyr-{key}"


@dataclass
class Build:
    board: str
    app: Path
    build_dir: Path
    output: str  # what `west build` printed (stdout + stderr)
    seconds: float


def west(*args, board: str, timeout: float = 900, cwd: Path | None = None):
    cmd = [sys.executable, "-m", "west", *args]
    return subprocess.run(cmd, env=board_env(board), cwd=cwd or TREE.parent, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def west_build(app: Path, board: str, build_dir: Path, cmake_args=(), werror: bool = True) -> Build:
    """`west build -p auto` (warnings are errors: CONFIG_COMPILER_WARNINGS_AS_ERRORS=y)."""
    import time

    args = ["build", "-p", "auto", "-b", board, "-d", str(build_dir), str(app), f"-o=-j{JOBS}"]
    if build_dir.is_dir() and not (build_dir / "build.ninja").is_file():
        # a configure that was interrupted (a killed run leaves CMakeCache.txt without
        # build.ninja): `-p auto` would reuse the directory and ninja would fail on it
        shutil.rmtree(build_dir)
    config = build_dir / "zephyr" / ".config"
    extra = list(cmake_args)
    if werror and not (config.is_file() and
                       "CONFIG_COMPILER_WARNINGS_AS_ERRORS=y" in config.read_text()):
        # Only on the first configure: passing CMake arguments makes west re-run CMake.
        extra.append("-DCONFIG_COMPILER_WARNINGS_AS_ERRORS=y")
        extra += [f"-D{arg}" for arg in werror_link_args(board)]
    if extra:
        args += ["--", *extra]
    t0 = time.monotonic()
    r = west(*args, board=board)
    seconds = time.monotonic() - t0
    if r.returncode != 0:
        raise AssertionError(f"west build of {app.name} for {board} failed "
                             f"(exit {r.returncode}):\n{r.stdout[-8000:]}")
    return Build(board, app, build_dir, r.stdout, seconds)


def run(build: Build, timeout: float = 300) -> tuple[int, str]:
    """Run a built app to its end: native_sim's zephyr.exe (posix_exit), QEMU with `-t run`
    (the samples end QEMU with a semihosting exit; only twister builds them to stay alive)."""
    if build.board in NATIVE_BOARDS:
        exe = build.build_dir / "zephyr" / "zephyr.exe"
        r = subprocess.run([str(exe), "--stop_at=600"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout
    r = west("build", "-d", str(build.build_dir), "-t", "run", board=build.board, timeout=timeout)
    return r.returncode, r.stdout


def memory_report(output: str) -> dict[str, tuple[int, str]]:
    """Zephyr's 'Memory region  Used Size  Region Size' table from the link: region -> (bytes, %)."""
    units = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    out = {}
    for m in re.finditer(r"^\s*(\w+):\s+(\d+) (B|KB|MB|GB)\s+\d+ (?:B|KB|MB|GB)\s+([\d.]+%)",
                         output, re.M):
        out[m.group(1)] = (int(m.group(2)) * units[m.group(3)], m.group(4))
    return out
