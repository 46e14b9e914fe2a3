"""A hostile model folder is refused with a BulkmodError that names the file: never a read outside the folder,
a hang, a crash of the process or a traceback.

Each folder starts as a copy of a shipped model; after tampering, the manifest's sha256 entries are
recomputed (as an attacker would), so only the folder and format checks can stop it. The crafted weights
files run in a child process, which must exit cleanly after refusing each one: handed to LightGBM 4.7 or
XGBoost 3.2 unchecked, the cases marked below killed the process (SIGSEGV, SIGABRT, SIGFPE) or hung it, the
others read out of bounds silently or raised the library's own error.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Composition
from safetensors.numpy import save_file

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features import FeatureConfig
from bulkmod.models import Estimator, build_model
from bulkmod.models.neighbours import NeighbourTable
from bulkmod.models.pretrained import DEFAULT_MODEL, FAST_MODEL, PRETRAINED_DIR, list_pretrained
from bulkmod.models.safety import MANIFEST, MAX_WEIGHTS_ENV, model_subdir

WEIGHTS = "model.lgbm.txt"
STOICH = FeatureConfig(groups=("stoich",)).as_dict()  # a composition-only feature set: quick to train on
# loads each folder given on the command line and predicts two crystals; prints one JSON line per folder
RUNNER = """
import json, sys
from pymatgen.core import Lattice, Structure
from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.models import Estimator

cu = Structure(Lattice.cubic(3.615), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
ds = Dataset("probe", ["cu", "nacl"], [cu.composition, nacl.composition], [float("nan")] * 2, structures=[cu, nacl])
for folder in sys.argv[1:]:
    print(json.dumps({"case": folder}), flush=True)
    try:
        outcome = f"predicted {Estimator.load(folder).predict(ds).mean_log10.tolist()}"
    except BulkmodError as exc:
        outcome = f"refused: {exc}"
    print(json.dumps({"case": folder, "outcome": outcome}), flush=True)
"""
AUDIT = """
import json, os, sys
opened = []

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.fsdecode(args[0]))

sys.addaudithook(hook)
from bulkmod.errors import BulkmodError
from bulkmod.models import Estimator

try:
    Estimator.load(sys.argv[1])
    outcome = "loaded"
except BulkmodError as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "opened": opened}))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_manifest(folder: Path, change: Callable[[dict], object]) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    change(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest))


def rehash(folder: Path) -> None:
    """Give every listed regular file its current sha256, as someone crafting the folder would."""

    def update(manifest: dict) -> None:
        for name in manifest["weights"]:
            if (folder / name).is_file():
                manifest["weights"][name] = sha256(folder / name)

    edit_manifest(folder, update)


def copy_shipped(dst: Path, name: str = FAST_MODEL) -> Path:
    return Path(shutil.copytree(PRETRAINED_DIR / name, dst))


def run_cases(folders: list[Path], timeout: float = 300) -> dict[str, str]:
    """Load and predict each folder in one child process; fail, naming the case, if it dies or hangs."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", RUNNER, *map(str, folders)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hung; its output so far: {exc.stdout!r}")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, f"exit {proc.returncode} (negative: killed by a signal) at {lines[-1:]}: {proc.stderr}"
    return {Path(line["case"]).name: line["outcome"] for line in lines if "outcome" in line}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path / "model")


# ---- 1. names that lead outside the folder -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["../secret.txt", "{secret}", "sub/../../secret.txt", "member_0/../../secret.txt"])
def test_weights_names_outside_the_folder_are_refused(model, name):
    secret = model.parent / "secret.txt"
    secret.write_text("not part of the model")
    name = name.format(secret=secret)
    edit_manifest(model, lambda m: m["weights"].update({name: sha256(secret)}))
    with pytest.raises(BulkmodError, match=r"manifest\.json: file name .* not a plain path inside the model folder"):
        Estimator.load(model)


def test_nothing_outside_the_folder_is_opened(model):
    """An audit hook in a child process records every file opened while a model naming ../secret.txt loads."""
    secret = model.parent / "secret.txt"
    secret.write_text("not part of the model")
    edit_manifest(model, lambda m: m["weights"].update({"../secret.txt": sha256(secret)}))
    proc = subprocess.run([sys.executable, "-c", AUDIT, str(model)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert "not a plain path inside the model folder" in report["outcome"]
    assert str(model / MANIFEST) in report["opened"]  # the hook does see the folder's files
    assert not [p for p in report["opened"] if Path(p).name == "secret.txt"]


def test_member_folders_stay_legal_and_shipped_models_load():
    """Every shipped model passes every check, including the blend whose weights are member_<i>/... files."""
    for name in list_pretrained():
        assert isinstance(Estimator.load(PRETRAINED_DIR / name), Estimator)


def test_a_symlinked_member_folder_is_refused(tmp_path):
    blend = copy_shipped(tmp_path / "blend", DEFAULT_MODEL)
    shutil.move(blend / "member_1", tmp_path / "elsewhere")
    (blend / "member_1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BulkmodError, match=r"member_1: not a real folder inside the model"):
        Estimator.load(blend)


def test_members_nested_too_deep_are_refused(tmp_path):
    deep = tmp_path / "m"
    for _ in range(6):
        deep = deep / "member_0"
    deep.mkdir(parents=True)
    with pytest.raises(BulkmodError, match="nested 6 deep"):
        model_subdir(deep.parent, "member_0")


# ---- 2. symlinks, devices, FIFOs and oversized files ---------------------------------------------------------
def test_symlinks_and_special_files_are_refused_without_hanging(tmp_path):
    """A symlink to /dev/zero used to make hashing run forever; every non-regular entry is now refused."""
    cases = {}
    for case in ("dev_zero", "outside_copy", "fifo", "manifest_link"):
        folder = cases[case] = copy_shipped(tmp_path / case)
        target = folder / (MANIFEST if case == "manifest_link" else WEIGHTS)
        if case == "dev_zero":
            target.unlink()
            target.symlink_to("/dev/zero")
        elif case == "fifo":
            target.unlink()
            os.mkfifo(target)
        else:  # a symlink to a file with the right content, outside the folder
            shutil.move(target, tmp_path / f"{case}.real")
            target.symlink_to(tmp_path / f"{case}.real")
    outcomes = run_cases(list(cases.values()), timeout=120)
    assert set(outcomes) == set(cases)
    for case, outcome in outcomes.items():
        assert outcome.startswith("refused: ") and (MANIFEST if case == "manifest_link" else WEIGHTS) in outcome
        assert ("not a regular file" if case == "fifo" else "not symlinks") in outcome, outcome


def test_oversized_files_are_refused_before_hashing_with_the_setting_to_raise(model, monkeypatch):
    with open(model / WEIGHTS, "r+b") as fh:  # a sparse 2 GB file: hashing it would take a while
        fh.truncate(2 << 30)
    with pytest.raises(BulkmodError, match=rf"{WEIGHTS}: \d+ bytes exceeds the 1024 MB limit.*{MAX_WEIGHTS_ENV}"):
        Estimator.load(model)
    monkeypatch.setenv(MAX_WEIGHTS_ENV, "lots")
    with pytest.raises(BulkmodError, match=f"{MAX_WEIGHTS_ENV}='lots': use a whole number of megabytes"):
        Estimator.load(model)


def test_the_size_limit_can_be_lowered_and_raised(model, monkeypatch):
    monkeypatch.setenv(MAX_WEIGHTS_ENV, "1")  # the shipped model.lgbm.txt is 4.7 MB
    with pytest.raises(BulkmodError, match=f"{WEIGHTS}: .* the 1 MB limit"):
        Estimator.load(model)
    monkeypatch.setenv(MAX_WEIGHTS_ENV, "8")
    assert isinstance(Estimator.load(model), Estimator)


# ---- 3. crafted LightGBM and XGBoost files (each crashed or hung the process before) -----------------------------
def tree0(key: str, change: Callable[[list[str]], list[str]]) -> Callable[[str], str]:
    """Change the values of ``key`` in the first tree, then fix ``tree_sizes`` so LightGBM still finds every
    tree (otherwise a misplaced tree, not the change itself, would be what the parser trips on)."""

    def apply(text: str) -> str:
        i = text.index(f"\n{key}=", text.index("\nTree=0\n")) + len(key) + 2
        j = text.index("\n", i)
        text = text[:i] + " ".join(change(text[i:j].split(" "))) + text[j:]
        first, end = text.index("\nTree=0\n") + 1, text.index("\nend of trees\n") + 1
        starts = [m.start() + first for m in re.finditer("^Tree=", text[first:end], re.M)] + [end]
        sizes = " ".join(str(b - a) for a, b in itertools.pairwise(starts))
        return re.sub("tree_sizes=.*", f"tree_sizes={sizes}", text, count=1)

    return apply


def truncate(fraction: float) -> Callable[[str], str]:
    return lambda text: text[: int(len(text) * fraction)]


LIGHTGBM_CASES: dict[str, Callable[[str], str]] = {
    **{f"truncated_at_{f}": truncate(f) for f in (0.001, 0.1, 0.4, 0.7, 0.99)},  # SIGSEGV, SIGABRT at 0.99
    "truncated_in_parameters": lambda t: t[: t.index("\nparameters:\n") + 60],  # SIGSEGV
    "child_out_of_range": tree0("left_child", lambda v: ["999", *v[1:]]),  # SIGSEGV at predict
    "child_cycle": tree0("left_child", lambda v: ["0", *v[1:]]),  # hangs: predict loops forever
    "leaf_out_of_range": tree0("right_child", lambda v: ["-999" if x.startswith("-") else x for x in v]),  # OOB read
    "feature_out_of_range": tree0("split_feature", lambda v: ["5000"] * len(v)),  # OOB read
    "leaf_value_short": tree0("leaf_value", lambda v: v[:-1]),  # SIGABRT
    "threshold_not_a_number": tree0("threshold", lambda v: ["x", *v[1:]]),  # SIGABRT
    "threshold_nan": tree0("threshold", lambda v: ["nan", *v[1:]]),
    "threshold_inf_glued": tree0("threshold", lambda v: ["1inf", *v[1:]]),
    "huge_num_leaves": tree0("num_leaves", lambda v: ["100000000"]),  # SIGABRT
    "categorical_split": tree0("decision_type", lambda v: ["1", *v[1:]]),  # OOB read of absent categories
    "tree_sizes_past_the_end": lambda t: re.sub(r"tree_sizes=\d+", "tree_sizes=999999999", t, count=1),  # SIGSEGV
    "zero_trees_per_iteration": lambda t: t.replace("num_tree_per_iteration=1", "num_tree_per_iteration=0"),  # SIGFPE
    "nul_byte": lambda t: t.replace("\nTree=1\n", "\nTree=1\n\0", 1),  # SIGABRT
    "pickle": lambda t: pickle.dumps({"weights": [1.0]}).decode("latin1"),
    "random_bytes": lambda t: np.random.default_rng(0).bytes(5000).decode("latin1"),
}


def test_crafted_lightgbm_files_never_crash_the_process(tmp_path):
    folders = [copy_shipped(tmp_path / "untouched")]
    for case, change in LIGHTGBM_CASES.items():
        folder = copy_shipped(tmp_path / case)
        text = (folder / WEIGHTS).read_text()
        (folder / WEIGHTS).write_bytes(change(text).encode("latin1"))
        rehash(folder)
        folders.append(folder)
    outcomes = run_cases(folders)
    assert outcomes.pop("untouched").startswith("predicted")  # the harness does load and predict
    assert outcomes.keys() == LIGHTGBM_CASES.keys()
    for outcome in outcomes.values():
        assert outcome.startswith("refused: ") and f"{WEIGHTS}: not a valid model file" in outcome, outcome


def test_a_split_on_missing_values_with_an_infinite_threshold_loads(tmp_path):
    """LightGBM writes ``threshold=inf`` for a split that sends a feature's NaNs one way and every number the
    other (the shipped default has such splits on the ion push, NaN for cells over the force cap)."""
    folder = copy_shipped(tmp_path / "inf")
    text = (folder / WEIGHTS).read_text()
    (folder / WEIGHTS).write_text(tree0("threshold", lambda v: ["inf", *v[1:-1], "-inf"])(text))
    rehash(folder)
    assert run_cases([folder])["inf"].startswith("predicted")


def xgb_folder(path: Path) -> Path:
    """A real (tiny) XGBoost descriptor model on composition descriptors."""
    formulas = ["NaCl", "MgO", "Cu", "Fe2O3", "SiC", "TiN", "Al2O3", "ZnS", "GaAs", "KBr"] * 3
    rng = np.random.default_rng(0)
    ds = Dataset("tiny", [str(i) for i in range(30)], [Composition(f) for f in formulas], rng.uniform(20, 300, 30))
    return build_model("xgb", features=STOICH, params={"eta": 0.3}).fit(ds, ds.y_log10).save(path)


def xgb_tree0(key: str, index: int, value: object) -> Callable[[dict], None]:
    def apply(doc: dict) -> None:
        doc["learner"]["gradient_booster"]["model"]["trees"][0][key][index] = value

    return apply


XGBOOST_CASES: dict[str, Callable[[dict], None]] = {
    "child_out_of_range": xgb_tree0("left_children", 0, 2**31 - 1),  # SIGSEGV
    "child_cycle": xgb_tree0("left_children", 1, 0),  # SIGSEGV
    "parent_out_of_range": xgb_tree0("parents", 1, 2**31 - 1),  # SIGSEGV at load
    "feature_out_of_range": xgb_tree0("split_indices", 0, 2**31 - 1),  # SIGSEGV
    "multi_output_leaves": lambda d: d["learner"]["gradient_booster"]["model"]["trees"][0]["tree_param"].update(
        size_leaf_vector="15"
    ),  # SIGSEGV
    "huge_num_feature": lambda d: d["learner"]["learner_model_param"].update(num_feature="2147483647"),  # hangs
    "bad_tree_info": lambda d: d["learner"]["gradient_booster"]["model"]["tree_info"].__setitem__(0, -(2**31)),  # SEGV
}


def test_crafted_xgboost_files_never_crash_the_process(tmp_path):
    clean = xgb_folder(tmp_path / "untouched")
    weights = "model.xgb.json"
    folders = [clean]
    for case, change in {**XGBOOST_CASES, "truncated": None}.items():
        folder = Path(shutil.copytree(clean, tmp_path / case))
        if change is None:
            text = (folder / weights).read_text()
            (folder / weights).write_text(text[: len(text) // 2])
        else:
            doc = json.loads((folder / weights).read_text())
            change(doc)
            (folder / weights).write_text(json.dumps(doc))
        rehash(folder)
        folders.append(folder)
    outcomes = run_cases(folders)
    assert outcomes.pop("untouched").startswith("predicted")
    assert outcomes.keys() == {*XGBOOST_CASES, "truncated"}
    for outcome in outcomes.values():
        assert outcome.startswith("refused: ") and f"{weights}: not a valid model file" in outcome, outcome


def test_a_lightgbm_file_for_other_features_is_refused(model):
    """A consistent model with the wrong input width would only fail at predict time."""
    edit_manifest(model, lambda m: m["config"]["features"].update(groups=["stoich"]))
    with pytest.raises(BulkmodError, match=r"model\.lgbm\.txt: .* expects 191 input features, .* config gives \d+"):
        Estimator.load(model)


# ---- 4. pickles and garbage under a weights name -----------------------------------------------------------------
class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def weights_folder(path: Path, key: str, weights: str, data: bytes, config: dict) -> Path:
    path.mkdir()
    (path / weights).write_bytes(data)
    manifest = {"format": "bulkmod-model/1", "model": key, "config": config, "weights": {weights: ""}}
    (path / MANIFEST).write_text(json.dumps(manifest))
    rehash(path)
    return path


@pytest.mark.parametrize(("key", "weights", "config"), [("gpr", "gp.safetensors", {"features": STOICH}),
                                                          ("cgcnn", "weights.safetensors", {})])  # fmt: skip
def test_a_pickle_named_safetensors_is_refused_unrun(tmp_path, key, weights, config):
    marker = tmp_path / "pwned"
    folder = weights_folder(tmp_path / "m", key, weights, pickle.dumps({"w": _Exploit(marker)}), config)
    with pytest.raises(BulkmodError, match=rf"{weights}: not a safetensors file .*pickles included, are never loaded"):
        Estimator.load(folder)
    assert not marker.exists()


def test_safetensors_with_the_wrong_arrays_are_refused(tmp_path):
    staging = tmp_path / "gp.safetensors"
    save_file({"x_mean": np.zeros(3)}, str(staging))
    folder = weights_folder(tmp_path / "m", "gpr", "gp.safetensors", staging.read_bytes(), {"features": STOICH})
    with pytest.raises(BulkmodError, match=r"gp\.safetensors: array 'x_mean' has d=3, elsewhere \d+"):
        Estimator.load(folder)


def test_garbage_neighbour_tables_are_refused(tmp_path):
    path = tmp_path / "neighbours.npz"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(BulkmodError, match=r"neighbours\.npz: not a numpy \.npz file"):
        NeighbourTable.load(path)
    np.savez(path, formula=np.array(["NaCl"]), chemsys=np.array(["Cl-Na"]), spg=np.array([225]),
             frac=np.zeros((1, 3)), y_log10=np.array([1.5]))  # fmt: skip
    with pytest.raises(BulkmodError, match=r"neighbours\.npz: array 'frac' has z=3"):
        NeighbourTable.load(path)


# ---- 5. manifests that are not what bulkmod writes -----------------------------------------------------------------
MANIFEST_CASES: dict[str, tuple[Callable[[dict], object], str]] = {
    "weights_a_list": (lambda m: m.update(weights=list(m["weights"])), "'weights' must be a JSON object"),
    "config_a_string": (lambda m: m.update(config="lgbm"), "'config' must be a JSON object"),
    "unknown_model": (lambda m: m.update(model="mystery"), "cannot rebuild the 'mystery' model .*unknown model"),
    "no_weights_key": (lambda m: m.pop("weights"), "manifest lacks weights"),
    "empty_weights": (lambda m: m.update(weights={}), f"needs {WEIGHTS} but 'weights' does not list it"),
    "bad_digest": (lambda m: m["weights"].update({WEIGHTS: "abc"}), "must be a lowercase sha256 hex digest"),
    "unknown_option": (lambda m: m["config"].update(wings=2), "does not take that option"),
    "null_features": (lambda m: m["config"].update(features=None), "config.features is null"),
    "bad_conformal": (lambda m: m["conformal"].update(q90="wide"), "conformal .* needs q90"),
    "conformal_a_list": (lambda m: m.update(conformal=[1]), "'conformal' must be a JSON object or null"),
    "short_domain": (lambda m: m["domain"]["lo"].pop(), "domain statistics do not match its 191 descriptors"),
    "no_sigma_model": (lambda m: m["weights"].pop("sigma.lgbm.txt"), "adaptive interval needs sigma.lgbm.txt"),
}


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_manifest_problems_name_the_manifest_and_what_to_do(model, case):
    change, message = MANIFEST_CASES[case]
    edit_manifest(model, change)
    with pytest.raises(BulkmodError, match=rf"{re.escape(str(model / MANIFEST))}: .*{message}") as err:
        Estimator.load(model)
    assert "re-save the model" in str(err.value)


@pytest.mark.parametrize(("text", "message"), [("[1, 2]", "a manifest is a JSON object, not list"),
                                               ('{"format": "bulk', "corrupt manifest"),
                                               ("[" * 100_000, "corrupt manifest .*RecursionError")])  # fmt: skip
def test_manifests_that_are_not_json_objects_are_refused(model, text, message):
    (model / MANIFEST).write_text(text)
    with pytest.raises(BulkmodError, match=rf"manifest\.json: {message}"):
        Estimator.load(model)


def test_tampered_weights_are_still_refused(model):
    data = bytearray((model / WEIGHTS).read_bytes())
    data[-100] ^= 1
    (model / WEIGHTS).write_bytes(data)
    with pytest.raises(BulkmodError, match=f"{WEIGHTS}: sha256 does not match the manifest"):
        Estimator.load(model)
