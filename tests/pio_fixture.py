"""Offline PlatformIO fixture for the qnnc PlatformIO tests.

PlatformIO's registry is unreachable here, yet every build needs the core package
``tool-scons`` and a development platform.  This module assembles a private
``PLATFORMIO_CORE_DIR`` that provides them, so that the builds themselves are real
``pio run`` / ``pio test`` subprocesses driving real SCons:

* ``packages/tool-scons``: SCons 4.11.1 from PyPI (the version PlatformIO 6.2 asks
  for, ``~4.41101.0``), copied from the installed ``scons`` distribution or
  unpacked from a ``pip download``.
* ``platforms/native``: the host platform, equivalent to the registry's
  ``platformio/native`` 1.2.1 (host GCC, ``exec``/``upload`` run the program), so an
  unmodified ``platform = native`` resolves to it.
* optionally ``platforms/qemu-cortexm``: bare-metal Cortex-M boards (Debian's
  ``arm-none-eabi-gcc``, newlib-nano, semihosting) that ``upload`` / ``pio test``
  run in ``qemu-system-arm``; see :func:`add_qemu_platform`.

``write_unity_standin`` provides a stand-in for the ``throwtheswitch/Unity`` library
that ``pio test`` would otherwise download: a small implementation of the Unity API
subset the sample's test uses, printing Unity's exact result format.  Users with
internet get the real Unity from the registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SCONS_VERSION = "4.11.1"
# PlatformIO encodes SCons X.Y.Z as 4.XYYZZ.0 (4.11.1 -> 4.41101.0); "~4.41101.0" in
# platformio/dependencies.py.
TOOL_SCONS_VERSION = "4.41101.0"


def _piopm(pkg_type: str, name: str, version: str, owner: str) -> str:
    return json.dumps(
        {
            "type": pkg_type,
            "name": name,
            "version": version,
            "spec": {"owner": owner, "id": None, "name": name, "requirements": None, "uri": None},
        }
    )


def pio_command(*args: str) -> list:
    """``pio ARGS`` run by this interpreter (PlatformIO must be installed in it)."""
    return [sys.executable, "-m", "platformio", *args]


def pio_environ(core_dir: Path, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.update(
        PLATFORMIO_CORE_DIR=str(core_dir),
        PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
        PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="3650",
        PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0",
        PLATFORMIO_DISABLE_UPGRADE_CHECK="true",
        PLATFORMIO_NO_ANSI="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    # the caller's PYTHONPATH must not leak a qnnc package into the generator run
    env.pop("PYTHONPATH", None)
    return env


# --------------------------------------------------------------------- SCons --


def _scons_source(workdir: Path) -> Path:
    """A directory holding the ``SCons`` package, version SCONS_VERSION."""
    try:
        from importlib import metadata

        if metadata.version("scons") == SCONS_VERSION:
            import SCons  # noqa: F401  (the distribution is importable)

            return Path(SCons.__file__).resolve().parent.parent
    except Exception:  # pragma: no cover - depends on the machine
        pass
    dl = workdir / "scons-download"
    dl.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "-d", str(dl), f"scons=={SCONS_VERSION}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    wheel = next(dl.glob("scons-*.whl"))
    out = dl / "unpacked"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(out)
    return out


def add_tool_scons(core_dir: Path) -> Path:
    pkg = core_dir / "packages" / "tool-scons"
    if (pkg / "scons.py").is_file():
        return pkg
    src = _scons_source(core_dir / "tmp")
    pkg.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "SCons", pkg / "SCons",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*Tests.py"))
    (pkg / "scons.py").write_text(
        "import os, sys\n"
        "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
        "from SCons.Script.Main import main\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    )
    (pkg / "package.json").write_text(json.dumps(
        {"name": "tool-scons", "version": TOOL_SCONS_VERSION,
         "description": f"SCons {SCONS_VERSION} from PyPI (offline test fixture)"}))
    (pkg / ".piopm").write_text(_piopm("tool", "tool-scons", TOOL_SCONS_VERSION, "platformio"))
    return pkg


# ------------------------------------------------------------ native platform --

NATIVE_PLATFORM_JSON = {
    "name": "native",
    "title": "Native",
    "description": "Host platform (offline stand-in for platformio/native 1.2.1)",
    "license": "Apache-2.0",
    "engines": {"platformio": "^6"},
    "version": "1.2.1",
}

# Same behaviour as platformio/platform-native builder/main.py 1.2.1.
NATIVE_BUILDER = '''\
from SCons.Script import COMMAND_LINE_TARGETS, AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()

for k in ("CC", "CXX"):
    if k in env:
        del env[k]
backup_cflags = env.get("CFLAGS", [])
backup_cxxflags = env.get("CXXFLAGS", [])
env.Tool("gcc")
env.Tool("g++")
if "compiledb" in COMMAND_LINE_TARGETS:
    env.Tool("compilation_db")
env.Append(CFLAGS=backup_cflags, CXXFLAGS=backup_cxxflags)

target_bin = env.BuildProgram()

exec_action = env.VerboseAction("$SOURCE $PROGRAM_ARGS", "Executing $SOURCE")
AlwaysBuild(env.Alias("exec", target_bin, exec_action))
AlwaysBuild(env.Alias("upload", target_bin, exec_action))

target_size = env.Alias(
    "size", target_bin, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)

Default([target_bin])
'''


def add_native_platform(core_dir: Path) -> Path:
    plat = core_dir / "platforms" / "native"
    (plat / "builder").mkdir(parents=True, exist_ok=True)
    (plat / "platform.json").write_text(json.dumps(NATIVE_PLATFORM_JSON, indent=2))
    (plat / "builder" / "main.py").write_text(NATIVE_BUILDER)
    (plat / ".piopm").write_text(_piopm("platform", "native", "1.2.1", "platformio"))
    return plat


# ---------------------------------------------------------- Cortex-M on QEMU --

QEMU_PLATFORM_JSON = {
    "name": "qemu-cortexm",
    "title": "Cortex-M on QEMU (offline test fixture)",
    "description": "Bare-metal Cortex-M boards built with the host's arm-none-eabi-gcc "
                   "(newlib-nano, semihosting) and run in qemu-system-arm",
    "license": "Apache-2.0",
    "engines": {"platformio": "^6"},
    "version": "0.1.0",
}

# board id -> (QEMU machine, cpu flags, flash origin/size, ram origin/size, core)
QEMU_BOARDS = {
    "mps2_an386": ("mps2-an386",
                   ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
                   (0x00000000, 4 << 20), (0x20000000, 4 << 20), "cortex-m4"),
    "mps2_an385": ("mps2-an385", ["-mcpu=cortex-m3"],
                   (0x00000000, 4 << 20), (0x20000000, 4 << 20), "cortex-m3"),
}

QEMU_BUILDER = r'''
import os
from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
platform_dir = env.PioPlatform().get_dir()
cpu_flags = board.get("build.cpu_flags").split()
ldscript = os.path.join(platform_dir, "boards_ld", board.id + ".ld")

env.Replace(
    AR="arm-none-eabi-gcc-ar", AS="arm-none-eabi-as", CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++", LINK="arm-none-eabi-gcc", GDB="arm-none-eabi-gdb", OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib", SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"], PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.rodata|\.ARM\.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.heap|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    LDSCRIPT_PATH=ldscript,
)
common = cpu_flags + ["-mthumb", "-ffunction-sections", "-fdata-sections"]
env.Append(
    ASFLAGS=common, ASPPFLAGS=common + ["-x", "assembler-with-cpp"],
    CCFLAGS=common + ["-O2", "-Wall"],
    LINKFLAGS=common + ["-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs",
                        "-Wl,--gc-sections", "-Wl,-Map,${BUILD_DIR}/firmware.map"],
    LIBS=["m"],
)
# LINK is gcc: Debian's toolchain has no libstdc++ for newlib-nano, and the C sources
# need none.  Startup code: vector table, reset handler (copy .data, zero .bss, FPU on), exit
env.BuildSources(os.path.join("$BUILD_DIR", "qemu_startup"),
                 os.path.join(platform_dir, "startup"))

target_elf = env.BuildProgram()
qemu = ("qemu-system-arm -M %s -nographic -monitor none -serial none "
        "-semihosting-config enable=on,target=native -kernel $SOURCE"
        % board.get("build.qemu_machine"))
run = env.VerboseAction(qemu, "Running $SOURCE in QEMU (%s)" % board.get("build.qemu_machine"))
AlwaysBuild(env.Alias("upload", target_elf, run))
AlwaysBuild(env.Alias("exec", target_elf, run))
AlwaysBuild(env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Size $SOURCE")))
Default([target_elf])
'''

QEMU_STARTUP_C = r'''
/* Minimal Cortex-M start-up for QEMU's MPS2 boards (test fixture). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);

void Reset_Handler(void);
void _init(void) {} /* -nostartfiles: no crti.o; __libc_init_array calls these */
void _fini(void) {}
static void Default_Handler(void) { for (;;) { } }

__attribute__((section(".isr_vector"), used))
const void *const qemu_vectors[16] = {
    &_estack, (void *)Reset_Handler, (void *)Default_Handler, (void *)Default_Handler,
    (void *)Default_Handler, (void *)Default_Handler, (void *)Default_Handler, 0, 0, 0, 0,
    (void *)Default_Handler, (void *)Default_Handler, 0, (void *)Default_Handler,
    (void *)Default_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: CP10, CP11 full access */
    __asm volatile("dsb\n isb");
#endif
    initialise_monitor_handles();
    __libc_init_array();
    exit(main()); /* rdimon: SYS_EXIT(_EXTENDED) ends QEMU with main's status */
}
'''

QEMU_LD = '''
ENTRY(Reset_Handler)
MEMORY
{
  FLASH (rx) : ORIGIN = 0x%(flash_origin)08X, LENGTH = %(flash_size)d
  RAM  (rwx) : ORIGIN = 0x%(ram_origin)08X, LENGTH = %(ram_size)d
}
_estack = ORIGIN(RAM) + LENGTH(RAM);
_Min_Stack_Size = 0x8000;
SECTIONS
{
  .isr_vector : { KEEP(*(.isr_vector)) } > FLASH
  .text : { *(.text*) KEEP(*(.init)) KEEP(*(.fini)) *(.rodata*) . = ALIGN(4); } > FLASH
  .ARM.exidx : { __exidx_start = .; *(.ARM.exidx*) __exidx_end = .; } > FLASH
  .preinit_array : { PROVIDE_HIDDEN(__preinit_array_start = .); KEEP(*(.preinit_array*)); PROVIDE_HIDDEN(__preinit_array_end = .); } > FLASH
  .init_array : { PROVIDE_HIDDEN(__init_array_start = .); KEEP(*(SORT(.init_array.*))); KEEP(*(.init_array*)); PROVIDE_HIDDEN(__init_array_end = .); } > FLASH
  .fini_array : { PROVIDE_HIDDEN(__fini_array_start = .); KEEP(*(SORT(.fini_array.*))); KEEP(*(.fini_array*)); PROVIDE_HIDDEN(__fini_array_end = .); } > FLASH
  _sidata = LOADADDR(.data);
  .data : { . = ALIGN(4); _sdata = .; *(.data*) . = ALIGN(4); _edata = .; } > RAM AT> FLASH
  .bss (NOLOAD) : { . = ALIGN(4); _sbss = .; __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; __bss_end__ = .; } > RAM
  .heap (NOLOAD) : { . = ALIGN(8); end = .; _end = .; __end__ = .; . = . + 0x4000; } > RAM
  .stack (NOLOAD) : { . = ALIGN(8); . = . + _Min_Stack_Size; } > RAM
}
'''


def add_qemu_platform(core_dir: Path) -> Path:
    """A ``qemu-cortexm`` platform with boards ``mps2_an386`` (M4F) and ``mps2_an385`` (M3)."""
    plat = core_dir / "platforms" / "qemu-cortexm"
    for sub in ("builder", "boards", "boards_ld", "startup"):
        (plat / sub).mkdir(parents=True, exist_ok=True)
    (plat / "platform.json").write_text(json.dumps(QEMU_PLATFORM_JSON, indent=2))
    (plat / "builder" / "main.py").write_text(QEMU_BUILDER)
    (plat / "startup" / "qemu_startup.c").write_text(QEMU_STARTUP_C)
    for board, (machine, flags, (fo, fs), (ro, rs), core) in QEMU_BOARDS.items():
        (plat / "boards" / f"{board}.json").write_text(json.dumps({
            "name": f"Arm MPS2 ({machine}, {core}) on QEMU",
            "url": "https://www.qemu.org/docs/master/system/arm/mps2.html",
            "vendor": "Arm",
            "frameworks": [],
            "build": {"core": core, "cpu": core, "mcu": core, "f_cpu": "25000000L",
                      "cpu_flags": " ".join(flags), "qemu_machine": machine},
            "upload": {"maximum_size": fs, "maximum_ram_size": rs, "protocol": "qemu",
                       "protocols": ["qemu"]},
        }, indent=2))
        (plat / "boards_ld" / f"{board}.ld").write_text(QEMU_LD % dict(
            flash_origin=fo, flash_size=fs, ram_origin=ro, ram_size=rs))
    (plat / ".piopm").write_text(_piopm("platform", "qemu-cortexm", "0.1.0", "platformio"))
    return plat


def qemu_available() -> bool:
    return bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))


# ---------------------------------------------------------- Unity stand-in --

UNITY_H = r'''
/* Stand-in for throwtheswitch/Unity (offline test fixture): the API subset used by
 * qnnc's samples, printing Unity's result format that `pio test` parses. */
#ifndef UNITY_FRAMEWORK_H
#define UNITY_FRAMEWORK_H
#ifdef UNITY_INCLUDE_CONFIG_H
#include "unity_config.h"
#endif
#include <stdint.h>
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
void setUp(void);
void tearDown(void);
void UnityBegin(const char *filename);
int UnityEnd(void);
void UnityDefaultTestRun(void (*func)(void), const char *name, int line);
void UnityAssertEqualNumber(long expected, long actual, const char *msg, int line);
void UnityAssertIntWithin(long delta, long expected, long actual, const char *msg, int line);
void UnityAssertFloatWithin(double delta, double expected, double actual, const char *msg, int line);
void UnityAssertEqualInt8Array(const int8_t *expected, const int8_t *actual, size_t n,
                               const char *msg, int line);
void UnityFail(const char *msg, int line);
void UnityIgnore(const char *msg, int line);
#ifdef __cplusplus
}
#endif
#define UNITY_BEGIN() UnityBegin(__FILE__)
#define UNITY_END() UnityEnd()
#define RUN_TEST(func) UnityDefaultTestRun(func, #func, __LINE__)
#define TEST_FAIL_MESSAGE(m) UnityFail((m), __LINE__)
#define TEST_FAIL() UnityFail(NULL, __LINE__)
#define TEST_IGNORE_MESSAGE(m) UnityIgnore((m), __LINE__)
#define TEST_IGNORE() UnityIgnore(NULL, __LINE__)
#define TEST_ASSERT_TRUE_MESSAGE(c, m) do { if (!(c)) UnityFail((m) ? (m) : "Expected TRUE Was FALSE", __LINE__); } while (0)
#define TEST_ASSERT_TRUE(c) TEST_ASSERT_TRUE_MESSAGE(c, NULL)
#define TEST_ASSERT(c) TEST_ASSERT_TRUE_MESSAGE(c, NULL)
#define TEST_ASSERT_MESSAGE(c, m) TEST_ASSERT_TRUE_MESSAGE(c, m)
#define TEST_ASSERT_FALSE(c) TEST_ASSERT_TRUE_MESSAGE(!(c), NULL)
#define TEST_ASSERT_EQUAL_INT_MESSAGE(e, a, m) UnityAssertEqualNumber((long)(e), (long)(a), (m), __LINE__)
#define TEST_ASSERT_EQUAL_INT(e, a) TEST_ASSERT_EQUAL_INT_MESSAGE(e, a, NULL)
#define TEST_ASSERT_EQUAL(e, a) TEST_ASSERT_EQUAL_INT_MESSAGE(e, a, NULL)
#define TEST_ASSERT_EQUAL_MESSAGE(e, a, m) TEST_ASSERT_EQUAL_INT_MESSAGE(e, a, m)
#define TEST_ASSERT_EQUAL_INT8(e, a) TEST_ASSERT_EQUAL_INT_MESSAGE(e, a, NULL)
#define TEST_ASSERT_EQUAL_INT32(e, a) TEST_ASSERT_EQUAL_INT_MESSAGE(e, a, NULL)
#define TEST_ASSERT_EQUAL_UINT(e, a) TEST_ASSERT_EQUAL_INT_MESSAGE(e, a, NULL)
#define TEST_ASSERT_INT_WITHIN(d, e, a) UnityAssertIntWithin((long)(d), (long)(e), (long)(a), NULL, __LINE__)
#define TEST_ASSERT_INT_WITHIN_MESSAGE(d, e, a, m) UnityAssertIntWithin((long)(d), (long)(e), (long)(a), (m), __LINE__)
#define TEST_ASSERT_FLOAT_WITHIN(d, e, a) UnityAssertFloatWithin((d), (e), (a), NULL, __LINE__)
#define TEST_ASSERT_FLOAT_WITHIN_MESSAGE(d, e, a, m) UnityAssertFloatWithin((d), (e), (a), (m), __LINE__)
#define TEST_ASSERT_EQUAL_INT8_ARRAY(e, a, n) UnityAssertEqualInt8Array((e), (a), (n), NULL, __LINE__)
#define TEST_ASSERT_EQUAL_INT8_ARRAY_MESSAGE(e, a, n, m) UnityAssertEqualInt8Array((e), (a), (n), (m), __LINE__)
#endif
'''

UNITY_C = r'''
#include "unity.h"
#include <setjmp.h>
#include <stdio.h>
#ifndef UNITY_OUTPUT_CHAR
#define UNITY_OUTPUT_CHAR(c) putchar(c)
#endif
#ifndef UNITY_OUTPUT_FLUSH
#define UNITY_OUTPUT_FLUSH() fflush(stdout)
#endif
#ifndef UNITY_OUTPUT_START
#define UNITY_OUTPUT_START()
#endif
#ifndef UNITY_OUTPUT_COMPLETE
#define UNITY_OUTPUT_COMPLETE()
#endif

static struct {
    const char *file, *test;
    int line;
    unsigned tests, failures, ignores;
    int current_failed, current_ignored;
    jmp_buf abort;
} U;

static void put(const char *s) { while (*s) UNITY_OUTPUT_CHAR((unsigned char)*s++); }
static void put_long(long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%ld", v);
    put(buf);
}
static void put_head(int line)
{
    put(U.file); UNITY_OUTPUT_CHAR(':'); put_long(line); UNITY_OUTPUT_CHAR(':');
    put(U.test); UNITY_OUTPUT_CHAR(':');
}
static void fail_begin(int line) { put_head(line); put("FAIL:"); }
static void fail_end(const char *msg)
{
    if (msg) { put(" "); put(msg); }
    UNITY_OUTPUT_CHAR('\n');
    U.current_failed = 1;
    longjmp(U.abort, 1);
}

void UnityBegin(const char *filename)
{
    UNITY_OUTPUT_START();
    U.file = filename; U.tests = U.failures = U.ignores = 0;
}

void UnityDefaultTestRun(void (*func)(void), const char *name, int line)
{
    U.test = name; U.line = line; U.current_failed = U.current_ignored = 0;
    U.tests++;
    if (setjmp(U.abort) == 0) { setUp(); func(); }
    if (setjmp(U.abort) == 0) { tearDown(); }
    if (U.current_failed) U.failures++;
    else if (U.current_ignored) U.ignores++;
    else { put_head(line); put("PASS\n"); }
    UNITY_OUTPUT_FLUSH();
}

int UnityEnd(void)
{
    put("\n-----------------------\n");
    put_long((long)U.tests); put(" Tests ");
    put_long((long)U.failures); put(" Failures ");
    put_long((long)U.ignores); put(" Ignored \n");
    put(U.failures ? "FAIL\n" : "OK\n");
    UNITY_OUTPUT_FLUSH();
    UNITY_OUTPUT_COMPLETE();
    return (int)U.failures;
}

void UnityFail(const char *msg, int line) { fail_begin(line); fail_end(msg); }

void UnityIgnore(const char *msg, int line)
{
    put_head(line); put("IGNORE");
    if (msg) { put(": "); put(msg); }
    UNITY_OUTPUT_CHAR('\n');
    U.current_ignored = 1;
    longjmp(U.abort, 1);
}

void UnityAssertEqualNumber(long e, long a, const char *msg, int line)
{
    if (e == a) return;
    fail_begin(line); put(" Expected "); put_long(e); put(" Was "); put_long(a);
    fail_end(msg);
}

void UnityAssertIntWithin(long d, long e, long a, const char *msg, int line)
{
    long diff = e > a ? e - a : a - e;
    if (diff <= d) return;
    fail_begin(line); put(" Values Not Within Delta "); put_long(d);
    put(" Expected "); put_long(e); put(" Was "); put_long(a);
    fail_end(msg);
}

void UnityAssertFloatWithin(double d, double e, double a, const char *msg, int line)
{
    double diff = e > a ? e - a : a - e;
    char buf[96];
    if (diff <= d) return;
    fail_begin(line);
    snprintf(buf, sizeof buf, " Values Not Within Delta %g Expected %g Was %g", d, e, a);
    put(buf);
    fail_end(msg);
}

void UnityAssertEqualInt8Array(const int8_t *e, const int8_t *a, size_t n, const char *msg, int line)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (e[i] != a[i]) {
            fail_begin(line); put(" Element "); put_long((long)i);
            put(" Expected "); put_long(e[i]); put(" Was "); put_long(a[i]);
            fail_end(msg);
        }
    }
}
'''


def write_unity_standin(dst: Path) -> Path:
    """Install the Unity stand-in as ``throwtheswitch/Unity`` in a project's libdeps dir
    (``dst`` = ``<project>/.pio/libdeps/<env>``), where ``pio test`` looks for it."""
    lib = dst / "Unity"
    (lib / "src").mkdir(parents=True, exist_ok=True)
    (lib / "src" / "unity.h").write_text(UNITY_H.lstrip())
    (lib / "src" / "unity.c").write_text(UNITY_C.lstrip())
    (lib / "library.json").write_text(json.dumps({
        "name": "Unity", "version": "2.6.1",
        "description": "Offline stand-in for throwtheswitch/Unity (qnnc test fixture)",
        "frameworks": "*", "platforms": "*", "headers": "unity.h"}))
    (lib / ".piopm").write_text(_piopm("library", "Unity", "2.6.1", "throwtheswitch"))
    return lib


# ---------------------------------------------------------------- core dir --


def make_core_dir(dst: Path | None = None, qemu: bool = False) -> Path:
    core = Path(dst) if dst else Path(tempfile.mkdtemp(prefix="qnnc-pio-core-"))
    core.mkdir(parents=True, exist_ok=True)
    add_tool_scons(core)
    add_native_platform(core)
    if qemu:
        add_qemu_platform(core)
    return core


def main(argv=None) -> int:  # pragma: no cover - manual use
    """python tests/pio_fixture.py CORE_DIR [--qemu] [--project DIR ...]

    Builds a core dir for manual ``pio`` runs (prints the variable to export); each
    --project gets the Unity stand-in for every environment of its platformio.ini
    (`pio run` installs a project's test framework too, even when not testing)."""
    import argparse
    import configparser

    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("core_dir", type=Path)
    ap.add_argument("--qemu", action="store_true", help="add the qemu-cortexm platform")
    ap.add_argument("--project", type=Path, action="append", default=[])
    args = ap.parse_args(argv)
    make_core_dir(args.core_dir, qemu=args.qemu)
    for project in args.project:
        ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
        ini.read(project / "platformio.ini")
        for section in ini.sections():
            if section.startswith("env:"):
                write_unity_standin(project / ".pio" / "libdeps" / section[4:])
    print(f"export PLATFORMIO_CORE_DIR={args.core_dir.resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
