"""The rewrites that leave token ids read only as table lookups, in the order they apply.

The importer and the float runner both apply them, before finding index inputs
(index_inputs.py), so the model calibrated and the model compiled are the same graph.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import onnx

from .index_inputs import index_inputs
from .index_loops import looped_ids, unroll_id_loops
from .index_masks import id_comparisons_as_lookups
from .index_one_hot import one_hots_as_lookups
from .index_picks import picks_after_lookups
from .index_wraps import drop_index_wraps
from .unroll_loops import has_loops


def _lookups_only(model: onnx.ModelProto) -> None:
    """The in-place rewrites, in order."""
    drop_index_wraps(model)  # Keras' where(ids < 0, ids + rows, ids) before a lookup: the Gather's own
    picks_after_lookups(model)  # emb_k(cat[:, k]): the column picked after the lookup (index_picks.py)
    one_hots_as_lookups(model)  # F.one_hot(ids): a lookup of a constant table (index_one_hot.py)
    # (after the one-hot encodings: their tables are lookups the comparison tables can join)
    id_comparisons_as_lookups(model)  # Keras' mask_zero: Equal(ids, 0) as a 0/1 table lookup (index_masks.py)


def rewrite_id_reads(model: onnx.ModelProto, opset: int, path: str,
                     pins: Optional[Dict[str, List[int]]] = None) -> onnx.ModelProto:
    """``model`` with the reads of its token ids rewritten (in place unless a Loop over them is
    unrolled: EmbeddingBag's loop over the bags, index_loops.py, kept only where every id input
    it reads then is an index input); ``pins``: the config's input_shape."""
    looped = looped_ids(model) if has_loops(model) else {}
    unrolled = unroll_id_loops(model, opset, path, pins) if looped else model
    if unrolled is not model:
        _lookups_only(unrolled)
        if set(looped) <= set(index_inputs(unrolled)):
            return unrolled
    _lookups_only(model)
    return model
