"""C calls of int16-activation ops and int8 <-> int16 conversions (the 16x8 scheme).

Used by :mod:`.c_emitter` for ops the reference runs through ``interpreter_s16``. int16
tensors live in the same byte arena (the planner counts 2 bytes per element and aligns
every buffer to 4 bytes), so their pointers are the arena address cast to ``int16_t *``.
"""
from __future__ import annotations

from ..qmodel import QOp


def ptr(e, tensor: str) -> str:
    """Typed C address of a tensor: ``int16_t *`` for int16 tensors, else the int8 address."""
    p = e.ptr(tensor)
    return f"(int16_t *)(void *)({p})" if e.m.tensors[tensor].bits == 16 else p


def emit_op_s16(e, i: int, op: QOp) -> None:
    """Append the kernel call of one int16 op (or conversion) to the emitter's body."""
    m, k = e.m, f"op{i}"
    out = ptr(e, op.output)
    x = ptr(e, op.inputs[0])
    if op.kind == "requantize":
        r = e.struct(f"{k}_rescale", op.attrs["rescale"])
        e.body.append(f"    {op.kernel}({r}, {op.attrs['size']}, {x}, {out});")
    elif op.kind in ("conv", "depthwise_conv"):
        luts, filt, bias, q, dfl = e.op_weights(k, op)
        p = e.struct(f"{k}_params", op.params, luts)
        din = e.dims(f"{k}_input_dims", m.tensors[op.inputs[0]].shape)
        dout = e.dims(f"{k}_output_dims", m.tensors[op.output].shape)
        e.body.append(f"    {op.kernel}({p}, &{q}, {din}, {x}, {dfl}, {filt}, {bias}, {dout}, {out});")
    elif op.kind == "fully_connected":
        luts, w, bias, q, _ = e.op_weights(k, op)
        p = e.struct(f"{k}_params", op.params, luts)
        a = op.attrs
        e.body.append(f"    {op.kernel}({p}, &{q}, {a['rows']}, {a['in_features']}, {x}, {a['out_features']}, "
                      f"{w}, {bias}, {out});")
    elif op.kind in ("max_pool", "avg_pool"):
        p = e.struct(f"{k}_params", op.params)
        din = e.dims(f"{k}_input_dims", m.tensors[op.inputs[0]].shape)
        dout = e.dims(f"{k}_output_dims", m.tensors[op.output].shape)
        e.body.append(f"    {op.kernel}({p}, {din}, {x}, {dout}, {out});")
    elif op.kind == "add":
        p = e.struct(f"{k}_params", op.params)
        d1 = e.dims(f"{k}_input1_dims", op.attrs["input1_dims"])
        d2 = e.dims(f"{k}_input2_dims", op.attrs["input2_dims"])
        dout = e.dims(f"{k}_output_dims", op.attrs["output_dims"])
        e.body.append(f"    {op.kernel}({p}, {d1}, {x}, {d2}, {ptr(e, op.inputs[1])}, {dout}, {out});")
    elif op.kind == "softmax":
        lut = e.const_array(f"{k}_exp_lut", op.consts["exp_lut"])
        e.body.append(f"    {op.kernel}({op.attrs['rows']}, {op.attrs['cols']}, {lut}, {x}, {out});")
    elif op.kind == "transpose":
        din = e.dims(f"{k}_input_dims", op.attrs["input_dims"])
        perm = f"{e.p}_{k}_perm"
        e.statics.append(f"static const int32_t {perm}[4] = {{{', '.join(str(v) for v in op.attrs['perm'])}}};")
        e.body.append(f"    {op.kernel}({din}, {perm}, {x}, {out});")
    elif op.kind == "reshape":
        e.body.append("    /* view: shares the input's memory, no code */")
    else:
        raise NotImplementedError(f"int16 {op.kind}")
