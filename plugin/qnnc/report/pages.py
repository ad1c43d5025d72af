"""Human-readable reports: Markdown and a self-contained HTML page with a memory timeline."""
from __future__ import annotations

import html
from typing import Any, Dict, List

_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#bab0ac"]


def _fmt(n: int) -> str:
    return f"{n:,}"


def _short(name: str, n: int = 48) -> str:
    return name if len(name) <= n else name[:n - 1] + "…"


def _instr(n) -> str:
    return "–" if n is None else _fmt(n)


def _time_line(r: Dict[str, Any]) -> str:
    """The expected instructions per inference and the core they are for (with the assumption)."""
    t = r.get("target")
    if not t:
        return "not estimated"
    return f"expected {_fmt(t['instructions'])} instructions per inference on {t['description']}; {t['method']}"


def markdown_report(r: Dict[str, Any]) -> str:
    """Per-layer table and totals as Markdown."""
    core = r.get("target", {}).get("core", "")
    lines = [
        f"# qnnc report: {r['name']}",
        "",
        f"- RAM: arena **{_fmt(r['arena_bytes'])} B** (lower bound for layer-by-layer execution "
        f"{_fmt(r['lower_bound_bytes'])} B; largest single-operator inputs+output {_fmt(r['operator_io_bound_bytes'])} B)",
        f"- Flash: weights and tables **{_fmt(r['weight_bytes'])} B** (+ kernel code: {', '.join(r['kernels'])})",
        f"- Compute: {_fmt(r['macs'])} MACs in {len(r['layers'])} layers",
        f"- Time: {_time_line(r)}",
        f"- Calibration: {r.get('calibration') or 'not recorded'}",
        f"- Input `{r['input']['name']}` {r['input']['shape']} (scale {r['input']['scale']:.6g}, zero point "
        f"{r['input']['zero_point']}); output `{r['output']['name']}` {r['output']['shape']} (scale "
        f"{r['output']['scale']:.6g}, zero point {r['output']['zero_point']})"
        if "inputs" not in r else  # several inputs/outputs: all of them, in graph order
        "- " + "; ".join(f"{kind[:-1]} `{t['name']}` {t['shape']} int{t['bits']} (scale {t['scale']:.6g}, zero point "
                         f"{t['zero_point']})" for kind in ("inputs", "outputs") for t in r[kind]),
        "",
        f"| # | op | kernel | output | MACs | expected instr. ({core}) | weights B | activation B | arena offset "
        "| live |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for l in r["layers"]:
        lines.append(f"| {l['index']} | {l['op']} `{_short(l['name'], 40)}` | {l['kernel'] or 'view'} | "
                     f"{'x'.join(map(str, l['output'][1]))} | {_fmt(l['macs'])} | {_instr(l.get('instructions'))} | "
                     f"{_fmt(l['weight_bytes'])} | "
                     f"{_fmt(l['output_bytes'])} | {l['arena_offset']} | {l['lifetime'][0]}..{l['lifetime'][1]} |")
    if r.get("target"):
        lines.append(f"| | **total** (with input/output copies) | | | {_fmt(r['macs'])} | "
                     f"**{_fmt(r['target']['instructions'])}** | {_fmt(r['weight_bytes'])} | | | |")
    for note in r.get("notes", []):
        lines += ["", f"> note: {note}"]
    return "\n".join(lines) + "\n"


def _timeline_svg(r: Dict[str, Any]) -> str:
    buffers = r["buffers"]
    n_steps = len(r["layers"]) + 2  # the input copy (-1) .. the output copy (n)
    arena = max(r["arena_bytes"], 1)
    W, H, left, top, bottom = 920, 320, 70, 20, 40
    pw, ph = W - left - 20, H - top - bottom
    x = lambda s: left + (s + 1) * pw / n_steps  # noqa: E731
    y = lambda off: top + ph - off * ph / arena  # noqa: E731
    parts: List[str] = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" '
                        f'aria-label="arena occupancy over layers">',
                        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>']
    for i, b in enumerate(buffers):
        x0, x1 = x(b["first"]), x(b["last"] + 1)
        y0, y1 = y(b["offset"] + b["size"]), y(b["offset"])
        tip = html.escape(f"{', '.join(b['tensors'])}: {b['size']} B at offset {b['offset']}, "
                          f"layers {b['first']}..{b['last']}")
        parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                     f'height="{max(y1 - y0, 1):.1f}" fill="{_PALETTE[i % len(_PALETTE)]}" fill-opacity="0.8" '
                     f'stroke="#333" stroke-width="0.5"><title>{tip}</title></rect>')
    for s in range(-1, n_steps - 1):
        if n_steps <= 40 or s % max(1, n_steps // 20) == 0:
            label = "in" if s == -1 else ("out" if s == n_steps - 2 else str(s))
            parts.append(f'<text x="{(x(s) + x(s + 1)) / 2:.1f}" y="{H - bottom + 16}" font-size="11" '
                         f'text-anchor="middle">{label}</text>')
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        off = int(arena * frac)
        parts.append(f'<text x="{left - 6}" y="{y(off) + 4:.1f}" font-size="11" text-anchor="end">{_fmt(off)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{H - 4}" font-size="12" text-anchor="middle">layer</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2})">arena offset (B)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def html_report(r: Dict[str, Any]) -> str:
    """A self-contained HTML page (no scripts, no external resources)."""
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{l['index']}</td><td>{e(l['op'])}</td><td title=\"{e(l['name'])}\">{e(_short(l['name'], 32))}</td>"
        f"<td>{e(l['kernel'] or 'view')}</td><td>{'×'.join(map(str, l['output'][1]))}</td>"
        f"<td class=n>{_fmt(l['macs'])}</td><td class=n>{_instr(l.get('instructions'))}</td>"
        f"<td class=n>{_fmt(l['weight_bytes'])}</td>"
        f"<td class=n>{_fmt(l['output_bytes'])}</td><td class=n>{l['arena_offset']}</td>"
        f"<td>{l['lifetime'][0]}..{l['lifetime'][1]}</td></tr>" for l in r["layers"])
    notes = "".join(f"<p class=note>note: {e(n)}</p>" for n in r.get("notes", []))
    t = r.get("target")
    core = e(t["core"]) if t else ""
    time_card = (f'<div class="card">Time ({core})<b>{_fmt(t["instructions"])} instr.</b>expected per inference'
                 f'</div>' if t else "")
    total_row = (f"<tr><td></td><td colspan=4><b>total</b> (with input/output copies)</td>"
                 f"<td class=n>{_fmt(r['macs'])}</td><td class=n><b>{_fmt(t['instructions'])}</b></td>"
                 f"<td class=n>{_fmt(r['weight_bytes'])}</td><td></td><td></td><td></td></tr>" if t else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qnnc report: {e(r['name'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1000px; }}
table {{ border-collapse: collapse; font-size: 13px; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.cards {{ display: flex; gap: 1em; margin: 1em 0; }}
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: 0.6em 1em; }}
.card b {{ font-size: 1.4em; display: block; }}
.note {{ color: #a40; }}
</style></head><body>
<h1>qnnc report: {e(r['name'])}</h1>
<div class="cards">
<div class="card">RAM (arena)<b>{_fmt(r['arena_bytes'])} B</b>lower bound {_fmt(r['lower_bound_bytes'])} B</div>
<div class="card">Flash (weights, tables)<b>{_fmt(r['weight_bytes'])} B</b>+ kernels: {len(r['kernels'])}</div>
<div class="card">Compute<b>{_fmt(r['macs'])} MACs</b>{len(r['layers'])} layers</div>
{time_card}
</div>
<p>Time: {e(_time_line(r))}.</p>
{notes}
<h2>Memory timeline</h2>
<p>Each box is one arena buffer: its height is the bytes it occupies, its width the layers during which it is
live (from the layer that writes it to the last that reads it). Hover for tensor names.</p>
{_timeline_svg(r)}
<h2>Layers</h2>
<table><thead><tr><th>#</th><th>op</th><th>node</th><th>kernel</th><th>output</th><th>MACs</th>
<th>expected instr. ({core})</th><th>weights B</th>
<th>activation B</th><th>arena offset</th><th>live</th></tr></thead>
<tbody>
{rows}
{total_row}
</tbody></table>
<p>Generated by qnnc {e(r['provenance']['qnnc'])}; inputs sha256 {e(r['provenance']['inputs_sha256'])}; calibration: {e(r.get('calibration') or 'not recorded')}.</p>
</body></html>
"""
