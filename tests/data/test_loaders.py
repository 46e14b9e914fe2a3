import gzip
import json
import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from bulkmod.data import load_csv, load_dataset
from bulkmod.data.loaders import load_cgcnn_dir, read_matbench_split_json
from bulkmod.errors import BulkmodError


def test_named_datasets_have_documented_sizes(mp_binary):
    assert len(mp_binary) == 3953 and mp_binary.has_structures
    assert len(load_dataset("elastic-2015")) == 1181
    comp = load_dataset("matbench-log-kvrh-comp")
    assert len(comp) == 10987 and not comp.has_structures
    assert comp.ids[0] == "mb-log-kvrh-00001" and comp.spacegroup[0] == 139
    assert np.all(comp.k_vrh > 0)
    # G_VRH is carried where present
    assert np.isfinite(mp_binary.g_vrh).all()


def test_expt_jarvis_reports_duplicate_ids_instead_of_dropping_silently():
    ds = load_dataset("expt-jarvis")
    assert ds.report.n_read == 32
    assert len(ds) + len(ds.report.rejected) == 32
    assert all("duplicate id" in p.reason for p in ds.report.rejected)


def test_unknown_dataset_names_the_choices():
    with pytest.raises(BulkmodError, match="mp-binary-2025"):
        load_dataset("no-such-set")


def test_csv_keeps_formula_nan_and_rejects_bad_targets(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("id,formula,k_vrh\na,NaN,50\nb,MgO,-3\nc,Si,\nd,Xx2,10\ne,Si,98\ne,Ge,75\n")
    ds = load_csv(path)
    assert ds.ids == ["a", "e"]
    assert ds.compositions[0].reduced_formula == "NaN"  # sodium nitride, not a missing value
    reasons = {p.id: p.reason for p in ds.report.rejected}
    assert "non-positive" in reasons["b"]
    assert "NaN" in reasons["c"]
    assert "unknown species" in reasons["d"]
    assert "duplicate id" in reasons["e"]
    assert ds.report.n_read == 6


def test_csv_with_structure_files(tmp_path):
    s = Structure(Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.to(filename=str(tmp_path / "mgo.cif"))
    (tmp_path / "junk.cif").write_text("data_x\n_cell_length_a nonsense\n")
    (tmp_path / "rows.csv").write_text("id,structure_file,k_vrh\nm,mgo.cif,160\nj,junk.cif,10\nz,missing.cif,10\n")
    ds = load_csv(tmp_path / "rows.csv")
    assert ds.ids == ["m"] and ds.has_structures
    reasons = {p.id: p.reason for p in ds.report.rejected}
    assert "junk.cif" in reasons["j"] and "missing.cif" in reasons["z"]


@pytest.mark.parametrize("content", ["", "a,b\n"])
def test_empty_csv_is_a_clear_error(tmp_path, content):
    path = tmp_path / "e.csv"
    path.write_text(content)
    with pytest.raises(BulkmodError, match=r"e\.csv"):
        load_csv(path)


def test_cgcnn_folder_reports_mismatched_rows(tmp_path):
    s = Structure(Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]])
    s.to(filename=str(tmp_path / "cu.cif"))
    s.to(filename=str(tmp_path / "extra.cif"))
    (tmp_path / "id_prop.csv").write_text("cu,137\nghost,10\n")
    ds = load_cgcnn_dir(tmp_path)
    assert ds.ids == ["cu"]
    reasons = {p.id: p.reason for p in ds.report.rejected}
    assert "no such file" in reasons["ghost"]
    assert "no row in id_prop.csv" in reasons["extra"]


def test_matbench_split_orient_reader(tmp_path, mp_small):
    doc = {
        "index": [0, 1],
        "columns": ["structure", "log10(K_VRH)"],
        "data": [
            [s.as_dict(), math.log10(k)] for s, k in zip(mp_small.structures[:2], mp_small.k_vrh[:2], strict=True)
        ],
    }
    path = tmp_path / "mb.json.gz"
    with gzip.open(path, "wt") as fh:
        json.dump(doc, fh)
    ds = read_matbench_split_json(path)
    assert ds.ids == ["mb-log-kvrh-00001", "mb-log-kvrh-00002"]
    np.testing.assert_allclose(ds.k_vrh, mp_small.k_vrh[:2])
