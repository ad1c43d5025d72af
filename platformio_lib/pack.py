#!/usr/bin/env python3
"""Make the self-contained qnnc PlatformIO library and its ``pio pkg pack`` archive.

In the qnnc repository the library folder (platformio_lib/) holds only the manifest
and the build script; the generator and the kernels live in ../plugin/qnnc.  A
library shipped to users must carry them, so this script assembles::

    qnnc/
      library.json  qnnc_build.py  README.md  [LICENSE]
      python/qnnc/...            the generator package, kernels in qnnc/runtime/
      python/requirements.txt    its Python dependencies, as pyproject.toml states them

and packs it with ``pio pkg pack`` into ``qnnc-<version>.tar.gz``.  Usage::

    python platformio_lib/pack.py                 # -> build/platformio/qnnc-0.1.0.tar.gz
    python platformio_lib/pack.py -o DIR          # archive into DIR
    python platformio_lib/pack.py --folder DIR    # only assemble the folder (DIR/qnnc)

The archive works as a ``lib_deps`` entry (``file:///path/qnnc-0.1.0.tar.gz`` or an
URL), and is what ``pio pkg publish`` would upload.  Needs PlatformIO Core in this
Python or ``pio`` on PATH (not for --folder).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LIB_FILES = ("library.json", "qnnc_build.py", "README.md")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.so", "*.egg-info", ".*")


def _read(path):
    with open(path, encoding="utf8") as fp:
        return fp.read()


def versions():
    pyproject = _read(os.path.join(REPO, "pyproject.toml"))
    init = _read(os.path.join(REPO, "plugin", "qnnc", "__init__.py"))
    lib = json.loads(_read(os.path.join(HERE, "library.json")))
    found = {
        "pyproject.toml": re.search(r'^version\s*=\s*"([^"]+)"', pyproject, re.M).group(1),
        "plugin/qnnc/__init__.py": re.search(r'__version__\s*=\s*"([^"]+)"', init).group(1),
        "platformio_lib/library.json": lib["version"],
    }
    if len(set(found.values())) != 1:
        raise SystemExit("pack.py: version mismatch: %s" % found)
    return found["pyproject.toml"]


def requirements():
    pyproject = _read(os.path.join(REPO, "pyproject.toml"))
    m = re.search(r"^dependencies\s*=\s*\[(.*?)\]", pyproject, re.S | re.M)
    if not m:
        return []
    text = "\n".join(ln.split("#", 1)[0] for ln in m.group(1).splitlines())  # no comments
    return re.findall(r"[\"']([^\"']+)[\"']", text)


def assemble(dst_parent):
    """Write the self-contained library folder ``dst_parent/qnnc``; return its path."""
    version = versions()
    dst = os.path.join(dst_parent, "qnnc")
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    for name in LIB_FILES:
        shutil.copy2(os.path.join(HERE, name), dst)
    for name in ("LICENSE", "LICENSE.txt", "NOTICE"):
        if os.path.isfile(os.path.join(REPO, name)):
            shutil.copy2(os.path.join(REPO, name), dst)
    shutil.copytree(os.path.join(REPO, "plugin", "qnnc"),
                    os.path.join(dst, "python", "qnnc"), ignore=IGNORE)
    with open(os.path.join(dst, "python", "requirements.txt"), "w", encoding="utf8") as fp:
        fp.write("# Python dependencies of the qnnc %s generator (from pyproject.toml);\n"
                 "# qnnc_build.py installs missing ones into PlatformIO's Python.\n" % version)
        fp.write("".join(r + "\n" for r in requirements()))
    return dst


def _files(root):
    out = set()
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            out.add(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return out


# `pio pkg pack`, run with one change: it validates library.json's "license" against
# the SPDX list it downloads; when that list is unreachable (offline), the license is
# checked against the ids below instead of failing the whole pack.
_PIO_PKG_PACK = r"""
import sys
import requests
from platformio.package.manifest import schema

_load = schema.ManifestSchema.load_spdx_licenses
KNOWN = %r
_loaded = []  # PlatformIO asks more than once per pack: fetch (and say so) only once

def _load_spdx_licenses():
    if not _loaded:
        try:
            _loaded.append(_load())
        except requests.exceptions.RequestException:
            sys.stderr.write("pack.py: SPDX license list unreachable; accepting %%s\n" %% KNOWN)
            _loaded.append({"licenses": [{"licenseId": i} for i in KNOWN]})
    return _loaded[0]

schema.ManifestSchema.load_spdx_licenses = staticmethod(_load_spdx_licenses)
from platformio.__main__ import main
sys.exit(main(["pio", "pkg", "pack"] + sys.argv[1:]))
"""


def _pio_pkg_pack(args):
    try:
        import platformio  # noqa: F401
    except ImportError:
        pio = shutil.which("pio") or shutil.which("platformio")
        if not pio:
            raise SystemExit("pack.py: PlatformIO Core not found (pip install platformio)")
        return subprocess.run([pio, "pkg", "pack"] + args, check=True)
    lib = json.loads(_read(os.path.join(HERE, "library.json")))
    script = _PIO_PKG_PACK % ([lib["license"]] if lib.get("license") else [])
    return subprocess.run([sys.executable, "-c", script] + args, check=True)


def pack(outdir):
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qnnc-pack-") as tmp:
        folder = assemble(tmp)
        expected = _files(folder)
        archive = os.path.join(os.path.abspath(outdir), "qnnc-%s.tar.gz" % versions())
        if os.path.exists(archive):
            os.remove(archive)
        _pio_pkg_pack([folder, "-o", archive])
    with tarfile.open(archive) as tar:
        packed = {m.name for m in tar.getmembers() if m.isfile()}
    missing = sorted(expected - packed)
    if missing:  # PlatformIO's default exclusions must not drop generator files
        raise SystemExit("pack.py: `pio pkg pack` left out: %s" % ", ".join(missing))
    return archive


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=os.path.join(REPO, "build", "platformio"),
                    help="directory for qnnc-<version>.tar.gz (default: build/platformio)")
    ap.add_argument("--folder", metavar="DIR",
                    help="only assemble the self-contained library folder DIR/qnnc")
    args = ap.parse_args(argv)
    if args.folder:
        print(assemble(args.folder))
    else:
        print(pack(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
