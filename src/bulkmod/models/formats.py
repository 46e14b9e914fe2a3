"""Weights formats, checked in Python before a native parser sees them; every failure names the file.

LightGBM's text parser (C++) trusts its input. A truncated file or a wrong array length makes it read past
its buffer (SIGSEGV) or fail a check inside an OpenMP loop, where the exception cannot be caught (SIGABRT);
an out-of-range or cyclic child index crashes or loops forever at predict time. XGBoost's JSON loader checks
array lengths but not indices: a bad parent, child or feature index crashes at load or predict, a huge
``num_feature`` hangs. So a LightGBM or XGBoost file is validated against the part of the format bulkmod
writes (numerical splits, no categorical or linear trees, one output) and only then parsed, from the very
bytes that were validated. safetensors (Rust, bounds-checked) and ``.npz`` (numpy, ``allow_pickle=False``)
parse safely; their errors become :class:`BulkmodError`, and :func:`check_arrays` checks what they hold.
"""

from __future__ import annotations

import json
import math
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bulkmod.errors import BulkmodError
from bulkmod.io import atomic_path
from bulkmod.models.safety import MAX_WEIGHTS_ENV, max_weights_bytes, read_model_file
from bulkmod.optional import require

if TYPE_CHECKING:
    import lightgbm
    import torch
    import xgboost

RESAVE = "re-save the model with bulkmod"
MAX_FEATURES = 1_000_000  # far above any descriptor set; bounds what a crafted header makes a parser allocate
MAX_LEAVES = 131_072  # LightGBM's own upper limit for num_leaves
MAX_NODES = 1 << 24

# ---- LightGBM text ---------------------------------------------------------------------------------------
LGBM_OBJECTIVES = ("regression", "regression_l1", "huber", "quantile")  # what bulkmod trains
LGBM_HEADER = {"tree", "version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
               "objective", "average_output", "feature_names", "monotone_constraints", "feature_infos",
               "tree_sizes"}  # fmt: skip
# Tree fields LightGBM reads, by how many values ("splits": num_leaves - 1, "leaves": num_leaves) and how:
# "int" and "loose" with its fast parser, which reads garbage as 0 (harmless but for the indices, which are
# checked); "float" with its checked parser, which aborts the process on a token that is not a number;
# "threshold" likewise, but ``inf`` and ``-inf`` are numbers there: LightGBM writes them for a split that sends
# the missing values of a feature one way and every number the other.
LGBM_ARRAYS: dict[str, tuple[str, str]] = {
    "split_feature": ("splits", "int"), "decision_type": ("splits", "int"), "left_child": ("splits", "int"),
    "right_child": ("splits", "int"), "internal_count": ("splits", "int"), "leaf_count": ("leaves", "int"),
    "threshold": ("splits", "threshold"), "leaf_value": ("leaves", "float"), "leaf_weight": ("leaves", "float"),
    "split_gain": ("splits", "loose"), "internal_value": ("splits", "loose"), "internal_weight": ("splits", "loose"),
}  # fmt: skip
LGBM_SCALARS = {"num_leaves", "num_cat", "is_linear", "shrinkage"}
LGBM_SPLIT_REQUIRED = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
# decision_type bits: 1 categorical (refused), 2 default-left, 4-12 missing type none/zero/NaN
LGBM_DECISIONS = [0, 2, 4, 6, 8, 10]
LGBM_MAX_TREE_LINES = 22  # the parser reads no more lines per tree
NUMBER_CHARS = {"int": re.compile(r"[-0-9 ]*"), "float": re.compile(r"[-+.0-9eE ]*")}
NUMBER_CHARS["loose"] = NUMBER_CHARS["float"]
NUMBER_CHARS["threshold"] = re.compile(r"(?:(?:-?inf|[-+.0-9eE]+)(?: (?!$)|$))*")
BARE_SIGN = re.compile(r"-(?!\d)")  # numpy (and LightGBM) would read a lone "-" as 0
TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\n"
TREE_SIZES = re.compile(r"[1-9]\d{0,11}(?: [1-9]\d{0,11})*")
NUM_LEAVES = re.compile(r"[1-9]\d{0,5}")
FINITE_LITERAL = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
PARAM_LINE = re.compile(r"\[[A-Za-z0-9_]+: [^\"\\]*\]")


def _bad(where: str, what: str) -> BulkmodError:
    return BulkmodError(f"{where}: not a valid model file ({what}); refusing to load it: {RESAVE}")


def _parse_column(values: list[str], how: str, count: int, where: str, key: str) -> np.ndarray:
    """All trees' values of one field, parsed at once (per-token Python would triple the load time)."""
    joined = " ".join(v for v in values if v)
    if not NUMBER_CHARS[how].fullmatch(joined) or (how == "int" and BARE_SIGN.search(joined)):
        raise _bad(where, f"{key} holds something other than numbers")
    if how == "loose":
        return np.empty(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (older) or raises (newer) on an unparsable token
            column = np.fromstring(joined, dtype=np.int64 if how == "int" else float, sep=" ")
    except (ValueError, DeprecationWarning):
        column = np.empty(0)
    bad = ~np.isfinite(column) if how == "float" else np.isnan(column)
    if column.size != count or bad.any():
        what = {"int": "whole number", "float": "finite number"}.get(how, "number")
        raise _bad(where, f"{key} holds a token that is not a {what}")
    return column


def _tree_fields(body: list[str], where: str) -> tuple[int, dict[str, str]]:
    """One ``Tree=`` block as LightGBM's ``Tree(const char*)`` reads it: (num_leaves, fields)."""
    if len(body) > LGBM_MAX_TREE_LINES or not all("=" in line for line in body):
        raise _bad(where, "a tree block is not key=value lines")
    fields = dict(line.split("=", 1) for line in body)
    if len(fields) != len(body) or not fields.keys() <= LGBM_SCALARS | LGBM_ARRAYS.keys():
        raise _bad(where, "a tree has repeated or unknown fields")
    if "leaf_value" not in fields:
        raise _bad(where, "a tree lacks leaf_value")
    if not NUM_LEAVES.fullmatch(fields.get("num_leaves", "")) or int(fields["num_leaves"]) > MAX_LEAVES:
        raise _bad(where, f"a tree's num_leaves is missing or not in 1..{MAX_LEAVES}")
    n_leaves = int(fields["num_leaves"])
    if fields.get("num_cat") != "0" or fields.get("is_linear", "0") != "0":
        raise _bad(where, "categorical or linear trees, which bulkmod never writes")
    shrinkage = fields.get("shrinkage", "1")
    if not FINITE_LITERAL.fullmatch(shrinkage) or not math.isfinite(float(shrinkage)):
        raise _bad(where, f"shrinkage={shrinkage[:20]!r} is not a finite number")
    if n_leaves > 1 and not all(k in fields for k in LGBM_SPLIT_REQUIRED):
        raise _bad(where, f"a tree with splits lacks one of {', '.join(LGBM_SPLIT_REQUIRED)}")
    if n_leaves == 1:
        fields.pop("leaf_weight", None)  # the parser stops before it for a single leaf (and LightGBM leaves it empty)
    return n_leaves, fields


def _check_lgbm_trees(blocks: list[list[str]], n_features: int, where: str) -> None:
    """Check the trees, so that prediction can neither index out of range nor loop.

    Every tree's fields have the lengths its num_leaves gives, numbers are numbers (finite where LightGBM's
    checked parser reads them), splits use features 0..n_features-1 with a numerical decision type, and the
    children form one binary tree rooted at node 0.
    """
    leaves = np.empty(len(blocks), dtype=np.int64)
    columns: dict[str, list[str]] = {key: [] for key in LGBM_ARRAYS}
    totals = dict.fromkeys(LGBM_ARRAYS, 0)
    for t, body in enumerate(blocks):
        leaves[t], fields = _tree_fields(body, where)
        lengths = {"splits": leaves[t] - 1, "leaves": leaves[t]}
        for key, (length, _) in LGBM_ARRAYS.items():
            if key in fields:
                value = fields[key]
                n_values = value.count(" ") + 1 if value else 0
                if n_values != lengths[length]:
                    raise _bad(where, f"tree {t}: {key} does not have {lengths[length]} values")
                columns[key].append(value)
                totals[key] += n_values
    parsed = {key: _parse_column(columns[key], how, totals[key], where, key) for key, (_, how) in LGBM_ARRAYS.items()}
    feature = parsed["split_feature"]
    if feature.size and not 0 <= feature.min() <= feature.max() < n_features:
        raise _bad(where, f"a split uses a feature outside 0..{n_features - 1}")
    if not np.isin(parsed["decision_type"], LGBM_DECISIONS).all():
        raise _bad(where, "a split has a categorical or unknown decision_type")
    splits = leaves - 1
    node = np.arange(splits.sum()) - np.repeat(np.cumsum(splits) - splits, splits)  # index within its tree
    tree = np.repeat(np.arange(len(blocks)), splits)
    children, parent, tree = (np.concatenate([parsed["left_child"], parsed["right_child"]]),
                              np.concatenate([node, node]), np.concatenate([tree, tree]))  # fmt: skip
    split_child = children >= 0
    # LightGBM numbers splits as they are grown, so a split's children come after it: with one parent per
    # node, every chain of parents then ends at the root, and there is no cycle
    in_range = np.where(split_child, (children > parent) & (children < splits[tree]), children >= -leaves[tree])
    if not in_range.all():
        raise _bad(where, f"tree {tree[~in_range][0]}: a child index is out of range")
    slot = np.where(split_child, (np.cumsum(splits) - splits)[tree] + children, splits.sum() +
                    (np.cumsum(leaves) - leaves)[tree] + ~children)  # fmt: skip
    expected = np.concatenate([node > 0, np.repeat(splits > 0, leaves)])  # one parent each, the roots none
    if not np.array_equal(np.bincount(slot, minlength=expected.size), expected):
        raise _bad(where, "a node is the child of two splits, or of none")


def _header_int(header: dict[str, str], key: str, where: str) -> int:
    if key not in header or not re.fullmatch(r"\d{1,9}", header[key]):
        raise _bad(where, f"header {key} is missing or not a small non-negative integer")
    return int(header[key])


def _check_lgbm_trailer(lines: list[str], where: str) -> None:
    """Check what follows ``end of trees``: feature importances, the parameters section, ``pandas_categorical``.

    The parser turns each parameter line into JSON by position, so a malformed one reads out of range.
    """
    section = None
    for line in lines:
        if section == "parameters":
            if line == "end of parameters":
                section = "done"
            elif line and not PARAM_LINE.fullmatch(line):  # the parser skips blank lines
                raise _bad(where, f"parameter line {line[:60]!r} is not '[name: value]'")
        elif line == "parameters:" and section in (None, "importances"):
            section = "parameters"
        elif line == "feature_importances:" and section is None:
            section = "importances"
        elif section == "importances" and re.fullmatch(r"\S+=\d+", line):
            continue
        elif line not in ("", "pandas_categorical:null"):
            raise _bad(where, f"unexpected line {line[:60]!r} after the trees")
    if section == "parameters":
        raise _bad(where, "the parameters section never ends (truncated file)")


def check_lightgbm_text(raw: bytes, where: str, n_features: int) -> str:
    """The text of a LightGBM model that its parser reads without crashing and predicts without looping.

    The model must take ``n_features`` input columns; anything else is a :class:`BulkmodError`. Mirrors that
    parser: header lines up to the first ``Tree=`` line, tree blocks cut at the byte offsets ``tree_sizes`` gives
    (the parser trusts them), each tree read up to its blank line, then the trailer.
    """
    if raw.translate(None, TEXT_BYTES):  # no NUL (the C string would end early), no CR or tab, no UTF-8
        raise _bad(where, "it holds bytes other than printable ASCII and newlines")
    text = raw.decode("ascii")
    first = text.find("\nTree=") + 1
    lines = text[:first].split("\n")
    if lines[0] != "tree" or not first:
        raise _bad(where, "no 'tree' header line or no trees (truncated file?)")
    header = {}
    for line in filter(None, lines):
        key, _, value = line.partition("=")
        if "=" in value or key in header or key not in LGBM_HEADER:
            raise _bad(where, f"header line {line[:60]!r} is repeated, unknown or has several '='")
        header[key] = value
    if header.get("version") != "v4":
        raise _bad(where, f"version {header.get('version')!r}; bulkmod reads LightGBM's v4 text format")
    if header.get("objective") not in LGBM_OBJECTIVES:
        raise _bad(where, f"objective {header.get('objective')!r} is not one bulkmod trains {LGBM_OBJECTIVES}")
    if _header_int(header, "num_class", where) != 1 or _header_int(header, "num_tree_per_iteration", where) != 1:
        raise _bad(where, "num_class and num_tree_per_iteration must be 1: bulkmod models predict one value")
    _header_int(header, "label_index", where)
    width = _header_int(header, "max_feature_idx", where) + 1
    if width != n_features:
        raise _bad(where, f"it expects {width} input features, but its model config gives {n_features}")
    for key in {"feature_names", "feature_infos"} | ({"monotone_constraints"} & header.keys()):
        if len(header.get(key, "").split()) != width:
            raise _bad(where, f"{key} does not list {width} features")
    if not TREE_SIZES.fullmatch(header.get("tree_sizes", "")):
        raise _bad(where, "tree_sizes is missing or not a list of byte counts")
    blocks, pos = [], first
    for k, size in enumerate(map(int, header["tree_sizes"].split(" "))):
        head, _, rest = text[pos : pos + size].partition("\n")
        body, blank, tail = rest.partition("\n\n")
        if head != f"Tree={k}" or not blank or tail.strip("\n"):
            raise _bad(where, f"tree {k} is not where tree_sizes puts it, or does not end in a blank line")
        blocks.append(body.split("\n"))
        pos += size
    trailer = text[pos:].split("\n")
    if trailer[0] != "end of trees":
        raise _bad(where, "no 'end of trees' where tree_sizes says the trees end (truncated or edited file?)")
    _check_lgbm_trees(blocks, width, where)
    _check_lgbm_trailer(trailer[1:], where)
    return text


def load_lightgbm(path: Path, n_features: int) -> lightgbm.Booster:
    """A LightGBM booster from a text model file, validated by :func:`check_lightgbm_text` first."""
    import lightgbm as lgb

    text = check_lightgbm_text(read_model_file(path.parent, path.name), str(path), n_features)
    try:
        return lgb.Booster(model_str=text)
    except (lgb.basic.LightGBMError, ValueError) as exc:  # ValueError: the parameters' JSON
        raise BulkmodError(f"{path}: LightGBM cannot read it ({exc}); {RESAVE}") from None


# ---- XGBoost JSON ----------------------------------------------------------------------------------------
XGB_OBJECTIVES = ("reg:squarederror", "reg:pseudohubererror", "reg:absoluteerror")
XGB_INT_ARRAYS = ("left_children", "right_children", "parents", "split_indices", "default_left", "split_type")
XGB_FLOAT_ARRAYS = ("split_conditions", "base_weights", "loss_changes", "sum_hessian")
XGB_EMPTY_ARRAYS = ("categories", "categories_nodes", "categories_segments", "categories_sizes")
XGB_ROOT_PARENT = 2**31 - 1  # how XGBoost writes "no parent"


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise _bad(where, f"{key!r} is missing or not a JSON {kind.__name__}")
    return value


def _json_int(obj: Any, key: str, where: str, lo: int, hi: int) -> int:
    """XGBoost writes its parameters as strings of decimal integers."""
    value = _get(obj, key, str, where)
    if not re.fullmatch(r"\d{1,10}", value) or not lo <= int(value) <= hi:
        raise _bad(where, f"{key}={value[:20]!r} is not an integer in {lo}..{hi}")
    return int(value)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a finite number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys are refused: XGBoost's own parser might keep another one than the one checked here."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a JSON object repeats a key")
    return out


def _check_xgb_tree(tree: Any, k: int, n_features: int, where: str) -> None:
    if _get(tree, "id", int, where) != k:
        raise _bad(where, f"tree {k} has id {tree['id']}")
    param = _get(tree, "tree_param", dict, where)
    n = _json_int(param, "num_nodes", where, 1, MAX_NODES)
    if _json_int(param, "num_feature", where, 0, MAX_FEATURES) != n_features or param.get("num_deleted") != "0":
        raise _bad(where, f"tree {k}: num_feature differs from the model's, or it has deleted nodes")
    if param.get("size_leaf_vector") not in ("0", "1"):
        raise _bad(where, f"tree {k}: multi-output leaves, which bulkmod never writes")
    arrays = {key: _get(tree, key, list, where) for key in (*XGB_INT_ARRAYS, *XGB_FLOAT_ARRAYS)}
    if any(len(a) != n for a in arrays.values()) or any(tree.get(key, []) != [] for key in XGB_EMPTY_ARRAYS):
        raise _bad(where, f"tree {k}: arrays are not all {n} long, or it has categorical splits")
    if not all(type(v) is int for key in XGB_INT_ARRAYS for v in arrays[key]):
        raise _bad(where, f"tree {k}: an index array holds something other than integers")
    numbers = (v for key in XGB_FLOAT_ARRAYS for v in arrays[key])
    if not all(type(v) is float and math.isfinite(v) for v in numbers):  # XGBoost reads an integer as an error
        raise _bad(where, f"tree {k}: a value array holds something other than finite numbers")
    left, right, parents = arrays["left_children"], arrays["right_children"], arrays["parents"]
    if set(arrays["split_type"]) - {0} or set(arrays["default_left"]) - {0, 1}:
        raise _bad(where, f"tree {k}: categorical splits or a default_left other than 0/1")
    if min(arrays["split_indices"]) < 0 or max(arrays["split_indices"]) >= n_features:
        raise _bad(where, f"tree {k}: a split uses a feature outside 0..{n_features - 1}")
    if parents[0] != XGB_ROOT_PARENT:
        raise _bad(where, f"tree {k}: node 0 is not the root")
    seen, stack = bytearray(n), [0]
    seen[0] = 1
    while stack:  # one binary tree from node 0: every node reached once, each knowing its parent
        node = stack.pop()
        if left[node] == right[node] == -1:
            continue
        for child in (left[node], right[node]):
            if not 0 < child < n or seen[child] or parents[child] != node:
                raise _bad(where, f"tree {k}: child {child} of node {node} is out of range, shared or misparented")
            seen[child] = 1
            stack.append(child)
    if not all(seen):
        raise _bad(where, f"tree {k}: some nodes are not reachable from the root")


def check_xgboost_json(raw: bytes, where: str, n_features: int) -> None:
    """Refuse an XGBoost JSON model that XGBoost's loader or predictor could crash or hang on.

    What passes is what bulkmod saves: a single-output gbtree regressor with numerical splits, for ``n_features``
    input columns.
    """
    if not raw.startswith(b"{") or not raw.isascii() or b"\\" in raw:  # XGBoost reads anything else as UBJSON
        raise _bad(where, "not a plain-ASCII JSON object")
    try:
        model = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise _bad(where, f"invalid JSON: {exc}") from None
    learner = _get(model, "learner", dict, where)
    param = _get(learner, "learner_model_param", dict, where)
    if _json_int(param, "num_feature", where, 1, MAX_FEATURES) != n_features:
        raise _bad(where, f"it expects {param['num_feature']} input features, but its model config gives {n_features}")
    if param.get("num_class") != "0" or param.get("num_target") != "1":
        raise _bad(where, "more than one output; bulkmod models predict one value")
    base = _get(param, "base_score", str, where).strip("[]")  # XGBoost 3 writes "[0.5E0]", older ones "5E-1"
    if not re.fullmatch(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", base) or not math.isfinite(float(base)):
        raise _bad(where, f"base_score {base[:20]!r} is not a finite number")
    if learner.get("feature_names", []) != [] or learner.get("feature_types", []) != []:
        raise _bad(where, "it names its features; bulkmod trains on unnamed columns and predict would refuse")
    if _get(_get(learner, "objective", dict, where), "name", str, where) not in XGB_OBJECTIVES:
        raise _bad(where, f"objective is not one bulkmod trains {XGB_OBJECTIVES}")
    booster = _get(learner, "gradient_booster", dict, where)
    if booster.get("name") != "gbtree":
        raise _bad(where, "the booster is not a gbtree")
    body = _get(booster, "model", dict, where)
    trees = _get(body, "trees", list, where)
    gbtree = _get(body, "gbtree_model_param", dict, where)
    if _json_int(gbtree, "num_trees", where, 1, MAX_NODES) != len(trees) or gbtree.get("num_parallel_tree") != "1":
        raise _bad(where, f"num_trees does not match the {len(trees)} trees, or trees are grown in parallel")
    if body.get("tree_info") != [0] * len(trees) or body.get("iteration_indptr") != list(range(len(trees) + 1)):
        raise _bad(where, "tree_info or iteration_indptr does not describe one tree per iteration")
    cats = body.get("cats", {})
    if not isinstance(cats, dict) or any(v != [] for v in cats.values()):
        raise _bad(where, "categorical encodings, which bulkmod never writes")
    for k, tree in enumerate(trees):
        _check_xgb_tree(tree, k, n_features, where)
    attributes = learner.get("attributes", {})
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        raise _bad(where, "attributes are not strings")
    best = attributes.get("best_iteration", "0")
    if not re.fullmatch(r"\d{1,9}", best) or int(best) >= len(trees):
        raise _bad(where, f"best_iteration {best[:20]!r} is not one of its {len(trees)} iterations")


def load_xgboost(path: Path, n_features: int) -> xgboost.Booster:
    """An XGBoost booster from a JSON model file, validated by :func:`check_xgboost_json` first."""
    xgb = require("xgboost")

    raw = read_model_file(path.parent, path.name)
    check_xgboost_json(raw, str(path), n_features)
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as exc:
        raise BulkmodError(f"{path}: XGBoost cannot read it ({exc}); {RESAVE}") from None
    return booster


# ---- safetensors, npz and what they hold ------------------------------------------------------------------
def _not_format(path: Path, fmt: str, exc: Exception) -> BulkmodError:
    return BulkmodError(
        f"{path}: not a {fmt} file ({type(exc).__name__}: {exc}); other formats, pickles included, "
        f"are never loaded: {RESAVE}"
    )


def save_safetensors(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write numpy arrays as safetensors, atomically (a killed save never leaves a half-written weights file)."""
    from safetensors.numpy import save_file

    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """NumPy arrays from a safetensors file (a pickle under that name is refused, never run)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:  # TypeError: a dtype numpy lacks
        raise _not_format(path, "safetensors", exc) from None


def load_safetensors_into(net: torch.nn.Module, path: Path) -> None:
    """Load a safetensors file into ``net``; tensors missing, extra or of another shape are refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    try:
        load_model(net, str(path))
    except (SafetensorError, OSError) as exc:
        raise _not_format(path, "safetensors", exc) from None
    except RuntimeError as exc:  # load_state_dict: names or shapes that do not fit the configured network
        raise BulkmodError(
            f"{path}: the weights do not fit the network its manifest describes ({exc}); {RESAVE}"
        ) from None


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays from an ``.npz`` without pickles, refusing members whose declared size exceeds the size limit.

    A small compressed file could otherwise inflate to any size.
    """
    try:
        with zipfile.ZipFile(path) as z:
            declared = sum(info.file_size for info in z.infolist())
        if declared > max_weights_bytes():
            raise BulkmodError(
                f"{path}: its arrays would take {declared} bytes, above the size limit; "
                f"if you trust this model, raise it with {MAX_WEIGHTS_ENV}=<megabytes>"
            )
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise _not_format(path, "numpy .npz", exc) from None


def check_arrays(
    path: Path, arrays: Mapping[str, np.ndarray], spec: Mapping[str, tuple[str, tuple[str, ...]]], **sizes: int
) -> None:
    """Check loaded arrays against ``spec``: name -> (NumPy dtype kinds, dimension names).

    A dimension name takes its size from ``sizes`` or from the first array that has it, and every other array
    must agree; float arrays must be finite. Shapes that disagree would otherwise fail deep inside predict.
    """
    for name, (kinds, dims) in spec.items():
        if name not in arrays:
            raise BulkmodError(f"{path}: array {name!r} is missing; {RESAVE}")
        a = arrays[name]
        if a.dtype.kind not in kinds or a.ndim != len(dims):
            raise BulkmodError(f"{path}: array {name!r} is {a.dtype} of shape {a.shape}, not {len(dims)}-d; {RESAVE}")
        for dim, size in zip(dims, a.shape, strict=True):
            if sizes.setdefault(dim, size) != size:
                raise BulkmodError(f"{path}: array {name!r} has {dim}={size}, elsewhere {sizes[dim]}; {RESAVE}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise BulkmodError(f"{path}: array {name!r} holds NaN or infinite values; {RESAVE}")
