"""Untrusted structure files: read without importing what they name, refused in words a user can act on."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from bulkmod.data.files import read_structure, safe_structure, structure_format, structure_from_dict
from bulkmod.data.validate import structure_hash
from bulkmod.errors import BulkmodError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _nacl() -> Structure:
    return Structure.from_file(EXAMPLES / "NaCl.cif")


def test_safe_structure_equals_pymatgen_on_real_rows(mp_binary):
    for s in mp_binary.structures[:200]:
        d = s.as_dict()
        ours, theirs = safe_structure(d), Structure.from_dict(d)
        assert structure_hash(ours) == structure_hash(theirs)
        np.testing.assert_array_equal(ours.lattice.matrix, theirs.lattice.matrix)
    cart = _nacl().as_dict()
    for site in cart["sites"]:
        del site["abc"]
    assert structure_hash(safe_structure(cart)) == structure_hash(_nacl())  # Cartesian sites


def test_a_module_named_in_the_input_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "probe_evil_mod.py").write_text(f"open({str(marker)!r}, 'w').write('x')\ndef f():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # as in a notebook started beside the data
    d = _nacl().as_dict()
    d["sites"][0]["properties"] = {"magmom": 1.0, "evil": {"@module": "probe_evil_mod", "@class": "X"}}
    d["sites"][1]["properties"] = {"magmom": 0.0, "evil": {"@module": "probe_evil_mod", "@callable": "f"}}
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(d))
    s = read_structure(path)
    row = structure_from_dict({"id": "x", "structure": d}, "row")
    assert not marker.exists() and "probe_evil_mod" not in sys.modules
    assert s.site_properties == {"magmom": [1.0, 0.0]}  # scalars kept, objects dropped unread
    assert structure_hash(row) == structure_hash(_nacl())
    with pytest.raises(BulkmodError, match="'X', not a pymatgen Structure"):
        structure_from_dict(d | {"@module": "probe_evil_mod", "@class": "X"}, "row")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["sites"][0]["species"][0].update(occu=0), "site 0: occupancy 0 of Na must lie in (0, 1]"),
        (lambda d: d["sites"][0]["species"][0].update(occu=-1), "occupancy -1"),
        (lambda d: d["sites"][0]["species"][0].update(occu=float("nan")), "occupancy nan"),
        (lambda d: d["sites"][0]["species"][0].update(element="Xx"), "unknown element 'Xx'"),
        (lambda d: d["sites"][0].update(abc=[0, "a", 0]), "not a finite number"),
        (lambda d: d["lattice"].update(pbc=[True, True, False]), "not periodic"),
        (lambda d: d.update(lattice={"a": -4, "b": 4, "c": 4}), "cell length a = -4"),
        (lambda d: d.update(lattice={"a": 4, "b": 4, "c": 4, "alpha": 0}), "cell angle alpha = 0"),
        (lambda d: d.update(sites=[]), "no 'sites' list"),
        (lambda d: d.pop("lattice"), "no lattice"),
    ],
)
def test_bad_json_structures_are_refused_with_the_reason(edit, needle):
    d = _nacl().as_dict()
    edit(d)
    with pytest.raises(BulkmodError, match=re.escape(needle)):
        structure_from_dict(d, "row")


def _cif_with_last_occupancy(value: str) -> str:
    lines = (EXAMPLES / "NaCl.cif").read_text().rstrip("\n").split("\n")
    lines[-1] = re.sub(r"\S+$", value, lines[-1])
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (_cif_with_last_occupancy("0"), "atom site 2 has occupancy 0"),  # pymatgen would drop the site
        (_cif_with_last_occupancy("-1"), "atom site 2 has occupancy -1"),
        (_cif_with_last_occupancy("nan"), "occupancy of atom site 2 is 'nan', not a finite number"),
        (re.sub(r"(_cell_length_b\s+)", r"\1-", (EXAMPLES / "NaCl.cif").read_text()), "cell length b = -"),
        ("data_x\n_cell_length_a 4\nloop_\n", "incomplete loop_"),
        ("data_x\n_cell_length_a 4\n", "no atom-site loop"),
    ],
)
def test_cif_checks_say_what_is_wrong(tmp_path, text, needle):
    path = tmp_path / "x.cif"
    path.write_text(text)
    with pytest.raises(BulkmodError, match=re.escape(needle)):
        read_structure(path)


def test_poscar_without_element_line_is_refused_not_guessed(tmp_path):
    path = tmp_path / "POSCAR"
    path.write_text("NaCl\n1.0\n5.6 0 0\n0 5.6 0\n0 0 5.6\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n")
    with pytest.raises(BulkmodError, match=r"no element line \(VASP 4"):
        read_structure(path)
    path.write_text("NaCl\n1.0\n5.6 0 0\n0 5.6 0\n0 0 5.6\nNa Cl\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n")
    assert read_structure(path).composition.reduced_formula == "NaCl"


def test_formats_by_name_and_size_cap(tmp_path, monkeypatch):
    assert [structure_format(Path(n)) for n in ("a.cif", "POSCAR_GaAs", "x_CONTCAR", "a.vasp", "a.json", "a.txt")] == [
        "cif", "poscar", "poscar", "poscar", "json", None]  # fmt: skip
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(BulkmodError, match="unrecognised file type"):
        read_structure(tmp_path / "a.txt")
    monkeypatch.setenv("BULKMOD_MAX_FILE_MB", "0.001")
    big = tmp_path / "big.cif"
    big.write_text((EXAMPLES / "NaCl.cif").read_text() + "#" * 2000)
    with pytest.raises(BulkmodError, match=r"exceeds the 0.001 MB cap per structure \(raise BULKMOD_MAX_FILE_MB"):
        read_structure(big)


def test_deeply_nested_json_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(BulkmodError, match="nested too deeply"):
        read_structure(path)


def test_cell_lengths_from_a_dict_lattice():
    d = _nacl().as_dict()
    d["lattice"] = {"a": 4.0, "b": 4.0, "c": 4.0, "alpha": 90, "beta": 90, "gamma": 90}
    assert safe_structure(d).lattice.abc == pytest.approx((4.0, 4.0, 4.0))
    assert Lattice.cubic(4.0).volume == pytest.approx(safe_structure(d).volume)
