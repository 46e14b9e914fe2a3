import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Structure

from bulkmod.data.validate import RawRow, build_dataset
from bulkmod.errors import BulkmodError
from bulkmod.features import FeatureConfig, featurize
from bulkmod.features.composition import MAGPIE_STATS, fraction_matrix, magpie_features, magpie_names
from bulkmod.features.structure import GROUP_NAMES, structure_features

STRUCT_GROUPS = tuple(GROUP_NAMES)


def test_magpie_block_matches_matminer():
    from matminer.featurizers.composition import ElementProperty

    ref = ElementProperty.from_preset("magpie")
    comps = [Composition(c) for c in ("Fe2O3", "NaCl", "Si", "Ba1Mg2Ge2", "LiFePO4")]
    ours = magpie_features(fraction_matrix(comps))
    names = magpie_names()
    for comp, row in zip(comps, ours, strict=True):
        theirs = dict(zip(ref.feature_labels(), ref.featurize(comp), strict=True))
        for name, value in zip(names, row, strict=True):
            stat = next(st for st in MAGPIE_STATS if name.startswith(f"magpie_{st}_"))
            prop = name.removeprefix(f"magpie_{stat}_")
            np.testing.assert_allclose(value, theirs[f"MagpieData {stat} {prop}"], rtol=1e-9, atol=1e-9, err_msg=name)


def _rocksalt(a=5.64):
    return Structure(
        Lattice.cubic(a),
        ["Na"] * 4 + ["Cl"] * 4,
        [
            [0, 0, 0],
            [0, 0.5, 0.5],
            [0.5, 0, 0.5],
            [0.5, 0.5, 0],
            [0.5, 0.5, 0.5],
            [0.5, 0, 0],
            [0, 0.5, 0],
            [0, 0, 0.5],
        ],
    )


def test_rocksalt_descriptors_are_physical():
    f = structure_features(_rocksalt(), STRUCT_GROUPS)
    coord = dict(zip(GROUP_NAMES["coordination"], f["coordination"], strict=True))
    bonds = dict(zip(GROUP_NAMES["bonds"], f["bonds"], strict=True))
    assert coord["cn_mean"] == 6 and coord["cn_std"] == 0
    assert bonds["bond_mean"] == pytest.approx(5.64 / 2)
    assert bonds["angle_min"] == pytest.approx(90) and bonds["angle_max"] == pytest.approx(180)
    dens = dict(zip(GROUP_NAMES["density"], f["density"], strict=True))
    assert dens["density_g_cm3"] == pytest.approx(2.16, abs=0.02)  # NaCl, a = 5.64 A


def test_descriptors_are_intensive_and_permutation_invariant():
    s = _rocksalt()
    base = structure_features(s, STRUCT_GROUPS)
    sup = structure_features(s.make_supercell([2, 1, 1], in_place=False), STRUCT_GROUPS)
    perm = Structure(s.lattice, [s[i].specie for i in range(7, -1, -1)], [s[i].frac_coords for i in range(7, -1, -1)])
    permuted = structure_features(perm, STRUCT_GROUPS)
    for g in STRUCT_GROUPS:
        keep = [i for i, n in enumerate(GROUP_NAMES[g]) if n != "log_n_sites"]
        np.testing.assert_allclose(sup[g][keep], base[g][keep], rtol=1e-8, atol=1e-10, err_msg=g)
        np.testing.assert_allclose(permuted[g], base[g], rtol=1e-8, atol=1e-10, err_msg=g)


def test_isolated_atom_is_a_clear_error():
    s = Structure(Lattice.cubic(30.0), ["Ar"], [[0, 0, 0]])
    with pytest.raises(BulkmodError, match="no neighbour"):
        structure_features(s, STRUCT_GROUPS)


def test_cached_features_equal_fresh_ones(mp_small, tmp_path, monkeypatch):
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path))
    ds = mp_small.subset(range(40))
    cfg = FeatureConfig()
    cold, err = featurize(ds, cfg)
    warm, _ = featurize(ds, cfg)
    assert not err and cold.shape == (40, len(cfg.names()))
    np.testing.assert_array_equal(cold, warm)
    assert (tmp_path / "features.sqlite").exists()


def test_composition_only_data_gets_composition_and_spacegroup_features():
    rows = [RawRow("a", "t", composition=Composition("MgO"), k_vrh=160, spacegroup=225)]
    ds = build_dataset("t", rows)
    cfg = FeatureConfig.default_for(ds)
    X, _ = featurize(ds, cfg)
    names = cfg.names()
    assert X[0, names.index("spg_number")] == 225 and X[0, names.index("crys_cubic")] == 1
    with pytest.raises(BulkmodError, match="need structures"):
        featurize(ds, FeatureConfig())


def test_unknown_group_is_refused():
    with pytest.raises(BulkmodError, match="unknown feature group"):
        FeatureConfig(("magpie", "vibes"))


def test_neighbour_cap_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("BULKMOD_MAX_NEIGHBORS", "20")
    with pytest.raises(BulkmodError, match="BULKMOD_MAX_NEIGHBORS"):
        structure_features(_rocksalt(), STRUCT_GROUPS)  # ~90 neighbours within 6 A


def test_the_one_crystal_system_map_agrees_with_pymatgen_and_names_unknowns():
    from pymatgen.symmetry.groups import SpaceGroup

    from bulkmod.features.spacegroup import CRYSTAL_SYSTEMS, crystal_system, crystal_system_names

    numbers = np.arange(1, 231)
    assert [CRYSTAL_SYSTEMS[i] for i in crystal_system(numbers)] == [
        SpaceGroup.from_int_number(int(n)).crystal_system for n in numbers
    ]
    assert crystal_system_names(np.array([0, np.nan, 231, 1, 225])) == ["unknown"] * 3 + ["triclinic", "cubic"]


def test_eos_centre_travels_with_the_features_and_keeps_old_manifests(mp_small):
    """``eos_centre="equilibrium"`` gives the umlip-eos group the volume-invariant scan; the default config's
    dict (what every shipped manifest holds) does not change."""
    from bulkmod.physics.potentials import strained

    assert "eos_centre" not in FeatureConfig().as_dict()
    cfg = FeatureConfig(("umlip-eos",), eos_centre="equilibrium")
    assert FeatureConfig.from_dict(cfg.as_dict()) == cfg
    with pytest.raises(BulkmodError, match="unknown E-V scan centre 'middle'"):
        FeatureConfig(("umlip-eos",), eos_centre="middle")
    si = mp_small.subset([i for i, s in enumerate(mp_small.structures) if len(s) <= 4][:1])
    s = si.structures[0]
    scaled = si.subset([0, 0])
    scaled.structures[:] = [strained(s, 0.95), strained(s, 1.05)]
    X, errors = featurize(scaled, cfg)
    assert not errors
    assert abs(X[0, 0] - X[1, 0]) < 0.01  # log10 K0 from either cell (the bracket scan moves by several %)
