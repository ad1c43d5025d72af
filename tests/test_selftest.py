"""On-target validation: <name>_selftest checks every layer against reference checksums and
names the first layer that differs (here: a deliberately corrupted weight)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from qnnc.build import build
from qnnc.reference.checksum import layer_checksum
from qnnc.config import load_config

REPO = Path(__file__).resolve().parent.parent
KWS = REPO / "samples" / "models" / "kws"

MAIN = r"""
#include <stdio.h>
#include "kws_test_data.h"
static int8_t arena[KWS_ARENA_SIZE] __attribute__((aligned(4)));
int main(void)
{
    kws_ctx ctx;
    int32_t bad_test, bad_layer;
    int failures;
    if (kws_init(&ctx, arena, sizeof arena) != 0) return 2;
    failures = kws_selftest(&ctx, &bad_test, &bad_layer);
    printf("failures=%d test=%d layer=%d\n", failures, (int)bad_test, (int)bad_layer);
    return 0;
}
"""


def _compile_and_run(gen: Path, tmp: Path) -> str:
    main = tmp / "main.c"
    main.write_text(MAIN)
    exe = tmp / "selftest"
    cmd = ["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=all", "-I", str(gen), str(main), *map(str, sorted(gen.glob("*.c"))), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.strip()


def test_checksum_definition():
    # uint8 views: 128, 0, 127; weights 1, 3, 5 on (byte + 1)
    assert layer_checksum(np.array([-128, 0, 127], np.int8)) == 1 * 129 + 3 * 1 + 5 * 128


def test_selftest_passes_and_locates_a_corrupted_weight(tmp_path):
    gen = tmp_path / "gen"
    res = build(str(KWS / "kws.onnx"), load_config(str(KWS / "kws.yaml")), str(gen), "kws", progress=False)
    assert _compile_and_run(gen, tmp_path) == "failures=0 test=-1 layer=-1"

    # Flip one weight of layer 5 (a 1x1 conv): the self-test must blame layer 5.
    layer = 5
    assert res.compiled.model.ops[layer].kind == "conv"
    weights = gen / "kws_weights.c"
    text = weights.read_text()
    m = re.search(rf"kws_op{layer}_filter\[\d+\][^=]*= \{{\n    (-?\d+),", text)
    assert m is not None
    old = int(m.group(1))
    new = old + 64 if old < 0 else old - 64
    text = text[:m.start(1)] + str(new) + text[m.end(1):]
    weights.write_text(text)
    out = _compile_and_run(gen, tmp_path)
    failures, test, bad = (int(x.split("=")[1]) for x in out.split())
    assert failures > 0 and test >= 0
    assert bad == layer, out


def test_test_data_count_beyond_the_file_is_said(tmp_path):
    """test_data.count larger than the file: the self-test embeds what there is, and says so (it
    took the file's count silently)."""
    from onnx_factory import save, tiny_mlp

    save(tiny_mlp(), tmp_path / "m.onnx")
    np.savez(tmp_path / "t.npz", x=np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32))
    (tmp_path / "q.yaml").write_text("name: m\ntest_data:\n  data: t.npz\n  count: 50\n")
    res = build(str(tmp_path / "m.onnx"), load_config(str(tmp_path / "q.yaml")), str(tmp_path / "gen"), "m",
                progress=False)
    assert any("test_data.count asks for 50 samples" in n and "holds 5" in n for n in res.compiled.model.notes)
