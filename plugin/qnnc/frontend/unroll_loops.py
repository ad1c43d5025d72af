"""``Loop`` nodes with a trip count known at build time, unrolled into plain nodes.

tf2onnx turns the ``tf.while_loop`` of a Keras 3 ``LSTM`` / ``GRU`` / ``SimpleRNN`` into a Loop
(its LSTM / GRU rewriters no longer match those graphs), and TorchScript writes one for a Python
loop over a fixed range. With a static input shape the trip count and the condition are
constants: the loop is the body repeated, each step reading the previous step's loop-carried
values, its scan outputs stacked along a new first axis.

The unrolling evaluates, per step, every body node whose inputs are all constants (the
iteration counter, the condition, integer loop-carried counters such as TensorFlow's ``time``;
a Shape of a tensor of static shape) with onnx's reference evaluator, so the condition of the next
step is known. An If in the body whose condition is so known is the branch it takes; results
collected in a sequence (dynamo writes a Python list so: SequenceEmpty, SequenceInsert,
ConcatFromSequence) are lists of the steps' tensors, concatenated where read. A loop whose trip
count or condition, or an If of whose body, depends on the input data, or whose body holds
other subgraphs, is refused by name.
The steps' tensors that play one role are returned as tied groups (one calibrated range each,
as for an unrolled LSTM).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from ..errors import ModelError
from .onnx_fold import evaluate_node
from .onnx_names import NewTensors, static_dims

_SEQUENCE_OPS = {"SequenceEmpty", "SequenceInsert", "SequenceAt", "SequenceLength", "ConcatFromSequence",
                 "Identity"}
MAX_STEPS = 1024          # a loop running longer is refused (it is no microcontroller model)
_EVAL_MAX_ELEMENTS = 1 << 16  # constant inputs larger than this are not evaluated (weights)


def has_loops(model: onnx.ModelProto) -> bool:
    return any(n.op_type == "Loop" and n.domain in ("", "ai.onnx") for n in model.graph.node)


def unroll_loops(model: onnx.ModelProto, opset: int, path: str) -> Tuple[onnx.ModelProto, List[List[str]]]:
    """The model with every top-level Loop unrolled (the model itself when it has none), and the
    groups of step tensors that take one range."""
    if not has_loops(model):
        return model, []
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    u = _Unroller(g, opset, path, _static_shapes(m))
    nodes: List[onnx.NodeProto] = []
    for n in g.node:
        if n.op_type == "Loop" and n.domain in ("", "ai.onnx"):
            nodes.extend(u.unroll(n))
        elif not u.sequence_op(n, {}, "", nodes):
            nodes.append(n)
            u.evaluate(n, n.output)
    _check_no_sequences(nodes, g, u.seqs, path)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(u.inits)
    return m, u.tied


def _static_shapes(m: onnx.ModelProto) -> Dict[str, List[int]]:
    """{tensor: its shape} for the main graph's tensors of static shape, by ONNX shape inference on
    the model as it is now (its inputs pinned: a dynamic batch already 1); {} where it fails."""
    try:
        inferred = shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # noqa: BLE001 - shape inference on a model the importer checks later
        return {}
    return {name: dims for name, dims in static_dims(inferred).items() if all(d > 0 for d in dims)}


def _check_no_sequences(nodes: List[onnx.NodeProto], g: onnx.GraphProto, seqs: Dict[str, List[str]],
                        path: str) -> None:
    """Refuse a node (or graph output) still reading a sequence the unrolling turned into a list of
    tensors (its producer is gone): one of the sequence ops it does not carry out."""
    for n in nodes:
        for i in n.input:
            if i in seqs:
                raise ModelError(f"it reads the sequence '{i}' a Loop builds; qnnc unrolls sequences read by "
                                 "ConcatFromSequence, SequenceAt and SequenceLength (positions known and in range) "
                                 "and grown by SequenceInsert", file=path, node=n.name or None, op=n.op_type)
    for o in g.output:
        if o.name in seqs:
            raise ModelError(f"graph output '{o.name}' is a sequence; qnnc's outputs are tensors "
                             "(ConcatFromSequence it in the model)", file=path)


class _Unroller(NewTensors):
    """Unrolls the Loops of one graph; ``consts`` holds every value known at build time."""

    def __init__(self, g: onnx.GraphProto, opset: int, path: str, shapes: Dict[str, List[int]]):
        super().__init__()
        self.opset, self.path = opset, path
        self.consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.names = set(self.consts) | {i.name for i in g.input} | {o.name for o in g.output}
        for n in g.node:
            self.names.update(n.output)
            self.names.add(n.name)
        self.tied: List[List[str]] = []
        # static shapes of the main graph (a Shape in a body or its branch: dynamo's EmbeddingBag bounds)
        self.shapes = shapes
        self.seqs: Dict[str, List[str]] = {}  # sequence-valued tensors: their items (sequence_op)

    def evaluate(self, n: onnx.NodeProto, outputs: List[str]) -> None:
        """Record the values of ``n``'s outputs (under ``outputs``) when all its inputs are small
        constants: the loop controls (counters, conditions) this way become known."""
        ins = [i for i in n.input if i]
        if n.op_type == "Constant" and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR:
            self.consts[outputs[0]] = numpy_helper.to_array(n.attribute[0].t)
            return
        if n.op_type == "Shape" and ins and ins[0] not in self.consts and ins[0] in self.shapes:
            start = next((a.i for a in n.attribute if a.name == "start"), 0)
            end = next((a.i for a in n.attribute if a.name == "end"), None)
            self.consts[outputs[0]] = np.array(self.shapes[ins[0]], np.int64)[start:end]
            return
        if not ins or any(i not in self.consts or self.consts[i].size > _EVAL_MAX_ELEMENTS for i in ins):
            return
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
            return
        try:
            got = evaluate_node(n, self.consts, self.opset)
        except Exception:
            return  # left to the importer, which names what is wrong
        for o, v in zip([o for o in outputs if o], got):
            v = np.asarray(v)
            if v.dtype.kind in "fiub":
                self.consts[o] = v

    def _fail(self, loop: onnx.NodeProto, msg: str) -> ModelError:
        return ModelError(msg, file=self.path, node=loop.name or None, op="Loop")

    def unroll(self, loop: onnx.NodeProto) -> List[onnx.NodeProto]:
        body = next((a.g for a in loop.attribute if a.name == "body"), None)
        if body is None:
            raise self._fail(loop, "the Loop has no body graph")
        n_carried = len(loop.input) - 2
        if len(body.input) != n_carried + 2 or len(body.output) < n_carried + 1:
            raise self._fail(loop, f"the body has {len(body.input)} inputs and {len(body.output)} outputs for "
                                   f"{n_carried} loop-carried values; the model is malformed")
        trip = self._known_scalar(loop, loop.input[0], "trip count M") if loop.input[0] else None
        cond = bool(self._known_scalar(loop, loop.input[1], "initial condition")) if loop.input[1] else True
        if trip is None and not loop.input[1]:
            raise self._fail(loop, "the Loop has neither a trip count nor a condition: it never ends")
        renamed_inits = {}
        for init in body.initializer:
            arr = numpy_helper.to_array(init)
            renamed_inits[init.name] = self.const(f"{loop.name or 'loop'}_{init.name}", arr)
        carried = list(loop.input[2:])
        n_scan = len(body.output) - 1 - n_carried
        scans: List[List[str]] = [[] for _ in range(n_scan)]
        roles: Dict[Tuple[str, str], List[str]] = {}
        out: List[onnx.NodeProto] = []
        step = 0
        while cond and (trip is None or step < int(trip)):
            if step >= MAX_STEPS:
                raise self._fail(loop, f"the Loop runs more than {MAX_STEPS} steps; qnnc unrolls loops and "
                                       "refuses longer ones")
            env = dict(renamed_inits)
            env[body.input[0].name] = self.const(f"{loop.name or 'loop'}_iteration_{step}", np.array(step, np.int64))
            env[body.input[1].name] = self.const(f"{loop.name or 'loop'}_condition_{step}", np.array(cond))
            for bi, name in zip(body.input[2:], carried):
                env[bi.name] = name
            self._steps_nodes(loop, body.node, env, step, out, roles)
            result = [env.get(o.name, o.name) for o in body.output]
            cond_name = result[0]
            if cond_name not in self.consts:
                raise self._fail(loop, "the Loop's condition depends on the input data; qnnc unrolls loops whose "
                                       "steps are known when the model is built")
            cond = bool(np.asarray(self.consts[cond_name]).reshape(-1)[0])
            carried = result[1:1 + n_carried]
            for k in range(n_scan):
                scans[k].append(result[1 + n_carried + k])
            step += 1
        if step == 0 and n_scan:
            raise self._fail(loop, "the Loop runs no step, so its scan outputs are empty tensors")
        for o, final in zip(loop.output[:n_carried], carried):
            if o and final in self.seqs:  # a sequence carried through: its items, under the output's name
                self.seqs[o] = self.seqs[final]
            elif o:
                out.append(helper.make_node("Identity", [final], [o], name=self.name(f"{o}__final")))
        for k, o in enumerate(loop.output[n_carried:]):
            if not o:
                continue
            parts = []
            single = len(scans[k]) == 1  # one step: its item is the output (a Concat of one copies)
            for i, part in enumerate(scans[k]):
                up = o if single else self.name(f"{o}__item{i}")
                if self.opset >= 13:
                    out.append(helper.make_node("Unsqueeze", [part, self.const(f"{o}__axes", np.array([0], np.int64))],
                                                [up], name=self.name(f"{up}_node")))
                else:
                    out.append(helper.make_node("Unsqueeze", [part], [up], name=self.name(f"{up}_node"), axes=[0]))
                parts.append(up)
            if not single:
                out.append(helper.make_node("Concat", parts, [o], name=self.name(f"{o}__stack"), axis=0))
        # a tensor made at every step plays one role: one range. Steps where it is a constant (the
        # zero initial state's product at step 0, integer controls) fold away and stay out.
        for names in roles.values():
            live = [n for n in names if n not in self.consts]
            if len(live) > 1:
                self.tied.append(live)
        return out

    def _steps_nodes(self, loop: onnx.NodeProto, nodes, env: Dict[str, str], step: int, out: List[onnx.NodeProto],
                     roles: Dict[Tuple[str, str], List[str]], scope: str = "") -> None:
        """One step's copies of ``nodes`` (the body's, or a branch's: ``scope`` tells them apart, as
        sibling branches may reuse names) into ``out``, their outputs renamed in ``env``: an If whose
        condition is known at this step is its branch taken, and sequence ops hold lists of the
        steps' tensors (:meth:`sequence_op`)."""
        for k, b in enumerate(nodes):
            if b.op_type == "If" and b.domain in ("", "ai.onnx"):
                self._if_branch(loop, b, env, step, out, roles, f"{scope}/{k}")
                continue
            if self.sequence_op(b, env, f"__step{step}", out):
                continue
            if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in b.attribute):
                raise self._fail(loop, f"the Loop body holds a subgraph (node '{b.name}', {b.op_type}); loop "
                                       "bodies are unrolled with their Ifs of known conditions only")
            node = onnx.NodeProto()
            node.CopyFrom(b)
            node.ClearField("input")
            node.input.extend([env.get(i, i) if i else "" for i in b.input])
            node.ClearField("output")
            outs = []
            for o in b.output:
                if not o:
                    outs.append("")
                    continue
                new = self.name(f"{o}__step{step}")
                env[o] = new
                outs.append(new)
                roles.setdefault((scope, o), []).append(new)
            node.output.extend(outs)
            node.name = self.name(f"{b.name or b.op_type}__step{step}")
            out.append(node)
            self.evaluate(node, outs)

    def _if_branch(self, loop: onnx.NodeProto, n: onnx.NodeProto, env: Dict[str, str], step: int,
                   out: List[onnx.NodeProto], roles: Dict[Tuple[str, str], List[str]], scope: str) -> None:
        """An If of a Loop body (dynamo's EmbeddingBag tests each bag for emptiness, ``mode`` and
        the divisor): the branch its condition, known at this step, takes."""
        cond = env.get(n.input[0], n.input[0])
        if cond not in self.consts:
            raise self._fail(loop, f"the condition of the If '{n.name}' in the Loop body depends on the input "
                                   "data; qnnc unrolls loops whose steps are known when the model is built")
        which = "then_branch" if bool(np.asarray(self.consts[cond]).reshape(-1)[0]) else "else_branch"
        branch = next(a.g for a in n.attribute if a.name == which)
        for init in branch.initializer:
            env[init.name] = self.const(f"{init.name}__step{step}", numpy_helper.to_array(init))
        self._steps_nodes(loop, branch.node, env, step, out, roles, f"{scope}:{which}")
        for o, bo in zip(n.output, branch.output):
            if o:
                env[o] = env.get(bo.name, bo.name)

    def sequence_op(self, n: onnx.NodeProto, env: Dict[str, str], suffix: str, out: List[onnx.NodeProto]) -> bool:
        """Whether ``n`` is a sequence op this unrolling carries out (a Loop that collects its steps'
        results in a sequence, as dynamo writes a Python list: SequenceEmpty, SequenceInsert,
        SequenceAt and SequenceLength with positions known and in range, ConcatFromSequence, an
        Identity of a sequence), ``env`` renaming its tensors (a step's, ``suffix`` on new names);
        the sequences are lists of tensor names. Others are left in place (:func:`_check_no_sequences`
        names them)."""
        if n.domain not in ("", "ai.onnx") or n.op_type not in _SEQUENCE_OPS:
            return False
        ins = [env.get(i, i) if i else "" for i in n.input]
        if n.op_type == "SequenceEmpty":
            items: List[str] = []
        elif ins[0] not in self.seqs:
            return False  # a sequence made otherwise (or an Identity of a tensor)
        elif n.op_type == "Identity":
            items = list(self.seqs[ins[0]])
        elif n.op_type == "SequenceInsert":
            items = list(self.seqs[ins[0]])
            at = self._position(ins[2] if len(ins) > 2 else "", len(items), len(items) + 1)
            if at is None:
                return False
            items.insert(at, ins[1])
        elif n.op_type in ("SequenceAt", "SequenceLength"):
            seq = self.seqs[ins[0]]
            if n.op_type == "SequenceLength":
                value = self.const(f"{n.output[0]}{suffix}", np.array(len(seq), np.int64))
            else:
                at = self._position(ins[1], None, len(seq))
                if at is None:
                    return False
                value = seq[at]
            env[n.output[0]] = value
            if not suffix and value != n.output[0]:  # the main graph: its name stays
                out.append(helper.make_node("Identity", [value], [n.output[0]], name=self.name(f"{n.output[0]}_item")))
                if value in self.consts:
                    self.consts[n.output[0]] = self.consts[value]
            return True
        else:  # ConcatFromSequence
            self._concat_items(n, self.seqs[ins[0]], env, suffix, out)
            return True
        name = self.name(f"{n.output[0]}{suffix}") if suffix else n.output[0]
        env[n.output[0]] = name
        self.seqs[name] = items
        return True

    def _position(self, name: str, default: Optional[int], size: int) -> Optional[int]:
        """A sequence position input ``name`` (``default`` where omitted) in [0, size), from ONNX's
        [-size, size) (negative counting from the end of the ``size`` places); None where it is not
        known or out of range (onnxruntime refuses those)."""
        if not name:
            return default
        if name not in self.consts:
            return None
        at = int(np.asarray(self.consts[name]).reshape(-1)[0])
        if at < 0:
            at += size if default is None else size - 1  # (an insert's places are the items' and the end)
        return at if 0 <= at < size else None

    def _concat_items(self, n: onnx.NodeProto, items: List[str], env: Dict[str, str], suffix: str,
                      out: List[onnx.NodeProto]) -> None:
        """ConcatFromSequence of ``items``: a Concat on ``axis`` (new_axis 1: of the items Unsqueezed there)."""
        y = self.name(f"{n.output[0]}{suffix}") if suffix else n.output[0]
        env[n.output[0]] = y
        axis = int(next((a.i for a in n.attribute if a.name == "axis"), 0))
        new_axis = int(next((a.i for a in n.attribute if a.name == "new_axis"), 0))
        parts = list(items)
        if new_axis:
            axes = self.const(f"{y}__axes", np.array([axis], np.int64))
            parts = []
            for i, item in enumerate(items):
                up = self.name(f"{y}__item{i}")
                out.append(helper.make_node("Unsqueeze", [item, axes], [up], name=self.name(f"{up}_node"))
                           if self.opset >= 13 else
                           helper.make_node("Unsqueeze", [item], [up], name=self.name(f"{up}_node"), axes=[axis]))
                parts.append(up)
        if len(parts) == 1:
            out.append(helper.make_node("Identity", parts, [y], name=self.name(f"{y}_node")))
        else:
            out.append(helper.make_node("Concat", parts, [y], name=self.name(f"{y}_node"), axis=axis))

    def _known_scalar(self, loop: onnx.NodeProto, name: str, what: str):
        if name not in self.consts:
            raise self._fail(loop, f"the Loop's {what} ('{name}') depends on the input data; qnnc unrolls loops "
                                   "whose steps are known when the model is built")
        return np.asarray(self.consts[name]).reshape(-1)[0]
