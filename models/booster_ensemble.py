"""Several boosters that differ only in their seed, merged into one booster that scores their mean margin.

Why an ensemble at all: LightGBM's row and feature subsampling (``bagging_fraction``, ``feature_fraction``)
make the booster a draw: the same data with another ``base.seed`` gives another model. On ~1,000-1,400
validation leads that draw decides the calibration too (X Education test ECE 0.025-0.038 over eight seeds);
averaging the margins of five boosters with their own seeds narrows that to 0.025-0.029 but for one seed whose
validation period chose the sigmoid (README, "Model quality against baselines"). Each member early-stops on
its own.

Why merge rather than keep a list: a gradient-boosted model's margin is the sum of its trees' leaf values, so
the mean of K boosters' margins is the sum of all their trees with every leaf value divided by K. That is
again one ordinary LightGBM model, so everything downstream (the fast single-row predictor, TreeSHAP reasons,
which are additive over trees, the reason lookup tables built from the split thresholds, ``model.txt`` in the
bundle) works unchanged. The merge edits LightGBM's text model format: the tree blocks are concatenated and
renumbered, ``leaf_value`` and ``internal_value`` scaled, and the result is loaded and re-serialised by
LightGBM itself, which recomputes the derived header fields (tree sizes, feature importances). A test checks
the merged margins and TreeSHAP contributions equal the members' means.
"""

from __future__ import annotations

import lightgbm as lgb

_SCALED_KEYS = ("leaf_value=", "internal_value=")
_TREES_END = "end of trees"


def _split_model(text: str) -> tuple[str, list[str], str]:
    """(header, tree blocks without their ``Tree=i`` line, footer from ``end of trees``) of a model string."""
    start = text.index("\nTree=") + 1
    end = text.index(_TREES_END)
    header = text[:start]
    blocks = [block for block in text[start:end].split("\n\n") if block.strip()]
    trees = [block.split("\n", 1)[1] for block in blocks]
    return header, trees, text[end:]


def _scaled_tree(tree: str, factor: float) -> str:
    """A tree block with its leaf and internal node values multiplied by ``factor``."""
    lines = []
    for line in tree.split("\n"):
        if line.startswith("is_linear=") and line != "is_linear=0":
            raise ValueError("linear trees cannot be merged")
        key = next((k for k in _SCALED_KEYS if line.startswith(k)), None)
        if key is not None:
            values = [repr(float(v) * factor) for v in line[len(key) :].split()]
            line = key + " ".join(values)
        lines.append(line)
    return "\n".join(lines)


def merge_boosters(boosters: list[lgb.Booster]) -> lgb.Booster:
    """One booster whose raw margin is the mean of the members' raw margins.

    Args:
        boosters: trained binary boosters on the same features (the first one's header and parameters
            are kept).

    Raises:
        ValueError: no boosters, or a member with multiple trees per iteration or linear trees.
    """
    if not boosters:
        raise ValueError("nothing to merge")
    if len(boosters) == 1:
        return boosters[0]
    factor = 1.0 / len(boosters)
    header, _, footer = _split_model(boosters[0].model_to_string())
    if "num_tree_per_iteration=1\n" not in header:
        raise ValueError("only single-output (binary) boosters can be merged")
    header = "\n".join(line for line in header.split("\n") if not line.startswith("tree_sizes="))
    blocks = []
    for booster in boosters:
        for tree in _split_model(booster.model_to_string())[1]:
            blocks.append(f"Tree={len(blocks)}\n{_scaled_tree(tree, factor)}")
    merged = header + "\n\n".join(blocks) + "\n\n\n" + footer
    return lgb.Booster(model_str=lgb.Booster(model_str=merged).model_to_string())
