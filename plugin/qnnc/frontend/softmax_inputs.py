"""Where a Softmax's input comes from: the tensors that only feed it, back through views.

An attention mask meets the scores in an Add or a Where, and exporters often put a view between
that and the Softmax (an Identity, the Reshape of multi-head attention). The mask handling
(finite_masks.py, quantize/calibrate_softmax.py) needs every tensor of that run: each holds the
same values, rearranged, and each is read by the next one only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence

import onnx

from .onnx_names import read_names, subgraphs

#: Ops whose output holds their first input's values, rearranged.
VIEW_OPS = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")


def _float_cast(n: onnx.NodeProto) -> bool:
    """A Cast to float32 (ONNX's Attention body casts the scores to float around its Softmax; the
    front end has read every float tensor as float32 by then: a view of the scores)."""
    return n.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT for a in n.attribute)


@dataclass
class SoftmaxFeed:
    """A Softmax's input and the tensors before it that only feed it."""

    softmax_input: str
    axis: int               # the Softmax's axis attribute (-1 when absent: see below)
    tensors: List[str]      # the input first, then back through the views; the last is the head
    head_op: str            # the op computing the head ('' for a graph input or initializer)


def softmax_feeds(nodes: Sequence[onnx.NodeProto], outputs: Iterable[str]) -> Dict[str, SoftmaxFeed]:
    """{head tensor: its SoftmaxFeed} for the Softmaxes among a graph's ``nodes`` whose input only
    they read (two Softmaxes reading one tensor: one feed when their axes agree); ``outputs``: the
    graph's output names. The axis is -1 when absent (opset 13's default; before 13 the default 1
    is the last axis of the 2-D inputs that frontend/decompose.py leaves)."""
    readers: Dict[str, List[onnx.NodeProto]] = {}
    for n in nodes:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    inner = set()  # read from inside an If / Loop body: a reader the walk cannot see
    for n in nodes:
        for sub in subgraphs(n):
            inner |= read_names(sub)
    outputs = set(outputs)
    producer = {o: n for n in nodes for o in n.output}
    feeds: Dict[str, SoftmaxFeed] = {}
    for name, ns in readers.items():
        if name in outputs or name in inner or not all(n.op_type == "Softmax" and n.domain in ("", "ai.onnx")
                                                          for n in ns):
            continue
        axes = {next((a.i for a in n.attribute if a.name == "axis"), -1) for n in ns}
        if len(axes) != 1:
            continue
        chain = [name]
        while chain[-1] in producer and (producer[chain[-1]].op_type in VIEW_OPS or _float_cast(producer[chain[-1]])):
            src = producer[chain[-1]].input[0]
            if src in outputs or src in inner or len(readers.get(src, [])) != 1:
                break
            chain.append(src)
        head = producer.get(chain[-1])
        feeds[chain[-1]] = SoftmaxFeed(name, axes.pop(), chain, head.op_type if head is not None else "")
    return feeds
