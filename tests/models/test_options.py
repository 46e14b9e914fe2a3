"""Every registry model's typed options survive save and load; a bad option is refused with a listing of the valid ones.

Generic on purpose: a new model, or a new field of an options class, is tested here with no change to this file
(a plain ``str`` option needs a valid example in ``STR_VALUES``, as it has no fixed choices to pick another from).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from typing import Any, Literal

import pytest

from bulkmod.errors import BulkmodError
from bulkmod.models import Estimator, build_model
from bulkmod.models.options import Options, listing, parse_options, split_options
from bulkmod.models.registry import MODELS

STR_VALUES = {"member": "rf", "checkpoint_dir": "checkpoints", "pretrained": "bulk-moduli.pth.tar"}
STR_VALUES_OF = {("megnet", "pretrained"): "mp-2019.4.1"}  # a model whose option takes other text than the rest
CANDIDATES = [{"params": {"num_leaves": 15}}, {"features": ["magpie", "stoich"]}]
# models whose unknown --param keys belong to their members, which are built (and refuse them) in fit
MEMBERS_CHECK = ("ensemble", "umlip-blend")


def _model(key: str) -> Estimator:
    """The untrained model with its defaults, or a skip where an optional dependency is missing."""
    try:
        return build_model(key)
    except BulkmodError as exc:
        if "is not installed" in str(exc):
            pytest.skip(str(exc))
        raise


def _alternatives(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, type(int | None)) else (hint,)


def _other_value(name: str, hint: Any, default: Any, key: str = "") -> Any:
    """A valid value of ``hint`` for model ``key`` that differs from ``default``."""
    if (key, name) in STR_VALUES_OF:
        return STR_VALUES_OF[key, name]
    if name in STR_VALUES:
        return STR_VALUES[name]
    for alt in _alternatives(hint):
        if typing.get_origin(alt) is Literal:
            for choice in typing.get_args(alt):
                if not (type(choice) is type(default) and choice == default):
                    return choice
        elif alt is bool:
            return not default if isinstance(default, bool) else True
        elif alt is int:
            return default + 1 if isinstance(default, int) else 2
        elif alt is float:
            return default * 2 if default else 0.5
        elif (typing.get_origin(alt) or alt) is list:
            return CANDIDATES
        elif alt is type(None) and default is not None:
            return None
    raise AssertionError(f"option {name}: no example value for {hint}; add one to STR_VALUES")


def _wrong_value(hint: Any) -> Any:
    """A JSON value that ``hint`` does not take: a number where text belongs, else text."""
    takes_text = any(
        alt is str or any(isinstance(c, str) for c in typing.get_args(alt) if typing.get_origin(alt) is Literal)
        for alt in _alternatives(hint)
    )
    return 3.5 if takes_text else "some text"


def _fields(options: Options) -> list[tuple[str, Any, Any]]:
    hints = typing.get_type_hints(type(options))
    return [(f.name, hints[f.name], getattr(options, f.name)) for f in dataclasses.fields(options)]


def _saved_and_loaded(key: str, model: Estimator) -> Estimator:
    """What :meth:`Estimator.load` rebuilds from the manifest's config (JSON, as on disk)."""
    return build_model(key, **json.loads(json.dumps(model.config())))


# options a model refuses on their own: mc-dropout's default already picks the other uncertainty method
EXCLUSIVE = {("mc-dropout", "laplace")}


@pytest.mark.parametrize("key", list(MODELS))
def test_every_option_survives_save_and_load_from_keywords_and_params(key):
    default = _model(key)
    assert _saved_and_loaded(key, default).options == default.options
    for name, hint, value in _fields(default.options):
        if (key, name) in EXCLUSIVE:
            with pytest.raises(BulkmodError, match="one uncertainty at a time"):
                build_model(key, **{name: _other_value(name, hint, value, key)})
            continue
        other = _other_value(name, hint, value, key)
        routes = {"keyword": {name: other}, "--param": {"params": {name: other}}}
        if key == "mean":  # no options, no params
            routes = {}
        for route, given in routes.items():
            model = build_model(key, **given)
            assert getattr(model.options, name) != value, (key, route, name)  # the option was taken
            assert _saved_and_loaded(key, model).options == model.options, (key, route, name)


@pytest.mark.parametrize("key", list(MODELS))
def test_a_wrongly_typed_option_names_itself_and_lists_every_option(key):
    default = _model(key)
    for name, hint, _ in _fields(default.options):
        wrong = _wrong_value(hint)
        with pytest.raises(BulkmodError, match=re.escape(f"option {name}={wrong!r} must be")) as err:
            build_model(key, params={name: wrong})
        for line in listing(type(default.options)):
            assert line in str(err.value), (key, line)


@pytest.mark.parametrize("key", [k for k in MODELS if k not in (*MEMBERS_CHECK, "mean")])
def test_an_unknown_param_is_refused_with_the_options_and_their_types(key):
    default = _model(key)
    with pytest.raises(BulkmodError, match="no_such_option") as err:
        build_model(key, params={"no_such_option": 1})
    for line in listing(type(default.options)):
        assert line in str(err.value), (key, line)


@pytest.mark.parametrize("key", MEMBERS_CHECK)
def test_composites_leave_unknown_member_params_to_their_members(key, mp_split):
    train, _ = mp_split
    model = build_model(key, params={"no_such_option": 1})  # the constructor builds no member (no work)
    with pytest.raises(BulkmodError, match="no_such_option"):
        model.fit(train, train.y_log10)  # the first member build refuses it, before any training


def test_parse_options_checks_types_and_coerces_integers_to_floats():
    @dataclasses.dataclass(frozen=True)
    class Demo(Options):
        mode: Literal["a", "b"] = "a"
        flag: bool = False
        count: int = 1
        scale: float = 1.0
        limit: int | None = None

    assert parse_options(Demo, {"scale": 2, "limit": 3}, model="demo") == Demo(scale=2.0, limit=3)
    assert isinstance(parse_options(Demo, {"scale": 2}, model="demo").scale, float)
    for bad in ({"count": True}, {"count": 1.5}, {"flag": 1}, {"mode": "c"}, {"limit": "x"}, {"scale": "1"}):
        with pytest.raises(BulkmodError, match=r"must be .*its options: mode: 'a' \| 'b' = 'a'; flag: bool = False"):
            parse_options(Demo, bad, model="demo")
    with pytest.raises(BulkmodError, match="count"):  # options built in code are held to the same types
        Demo(count="2")
    assert split_options(Demo, {"count": 2, "num_leaves": 3}) == ({"count": 2}, {"num_leaves": 3})
    assert Demo(count=2).replace(mode="b").as_dict() == {"mode": "b", "flag": False, "count": 2, "scale": 1.0,
                                                         "limit": None}  # fmt: skip


def test_old_manifests_with_options_inside_params_still_load():
    """Manifests written before the options were typed keep some of them in ``params``: they are read there too."""
    routed = build_model("structure-routed", inner_folds=5, params={"objective": "huber", "stack": "auto"})
    assert routed.options.stack == "auto" and routed.params == {"objective": "huber"}
    ensemble = build_model("ensemble", params={"member": "lgbm", "members": 3, "n_jobs": 2, "num_leaves": 15})
    assert (ensemble.options.members, ensemble.options.n_jobs) == (3, 2)
    assert ensemble.member_config == {"params": {"num_leaves": 15}}
    quantile = build_model("qlgbm", params={"cqr": False, "learning_rate": 0.1})
    assert not quantile.options.cqr and quantile.params == {"learning_rate": 0.1}


def test_literal_choices_match_the_tables_they_name():
    from bulkmod.models.umlip import UMLIPOptions
    from bulkmod.physics.potentials import POTENTIALS

    assert typing.get_args(typing.get_type_hints(UMLIPOptions)["potential"]) == tuple(POTENTIALS)
    megnet = pytest.importorskip("bulkmod.models.gnn.megnet_port")
    assert typing.get_args(typing.get_type_hints(megnet.MEGNetOptions)["version"]) == tuple(megnet.VERSIONS)
