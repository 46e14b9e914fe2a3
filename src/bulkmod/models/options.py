"""Typed model options: one frozen dataclass per estimator, and one helper that reads them from a dict.

Options used to be popped out of a free-form ``params`` dict by each estimator with its own checks, and each
``config()`` had to repeat every ``__init__`` argument by hand (a forgotten one was silently lost on save). Now an
estimator declares its options once, as the fields of an :class:`Options` subclass (``Literal`` where there is a
fixed choice), reads them with :func:`parse_options` (from keywords, a saved manifest or ``--param KEY=VALUE``,
whose values arrive JSON-parsed) and saves them with :meth:`Options.as_dict`. Free-form settings that belong to a
library (LightGBM/XGBoost parameters) stay a dict, checked by that library's own rules.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Literal, Self, TypeVar, Union

from bulkmod.errors import BulkmodError

T = TypeVar("T")
Loss = Literal["mse", "huber", "l1"]  # the training losses every trainable model offers (a booster objective each)


@cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved type of each field of the dataclass ``cls`` (its annotations are strings under PEP 563)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _members(hint: Any) -> tuple[Any, ...]:
    """The alternatives of a union (``int | None``), else the type itself."""
    return typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)


def _conform(hint: Any, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` is of type ``hint``, and the value to store (an int where a float belongs becomes one)."""
    for alt in _members(hint):
        origin = typing.get_origin(alt) or alt
        if alt is Any:
            return True, value
        if origin is Literal:
            # type-exact: True == 1 and 1 == 1.0 in Python, but an option that takes True does not take 1
            if any(type(value) is type(choice) and value == choice for choice in typing.get_args(alt)):
                return True, value
        elif alt is type(None):
            if value is None:
                return True, value
        elif alt is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return True, float(value)
        elif alt is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True, value
        elif isinstance(origin, type) and isinstance(value, origin):
            return True, value
    return False, value


def type_name(hint: Any) -> str:
    """How an option's type reads in an error: ``int``, ``'adaptive' | 'constant'``, ``dict | None``."""
    names = []
    for alt in _members(hint):
        if typing.get_origin(alt) is Literal:
            names += [repr(choice) for choice in typing.get_args(alt)]
        elif alt is type(None):
            names.append("None")
        else:
            names.append(getattr(typing.get_origin(alt) or alt, "__name__", str(alt)))
    return " | ".join(names)


def option_names(cls: type) -> tuple[str, ...]:
    """The option names of the dataclass ``cls``."""
    return tuple(_hints(cls))


def listing(*classes: type) -> list[str]:
    """``name: type = default`` for every option of ``classes``: what an error offers instead of a bad key."""
    out = []
    for cls in classes:
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in hints:
                default = " (required)" if f.default is dataclasses.MISSING else f" = {f.default!r}"
                out.append(f"{f.name}: {type_name(hints[f.name])}{default}")
    return out


def split_options(cls: type, values: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``values`` split into the options of ``cls`` and the rest (e.g. booster parameters given beside them)."""
    own, rest = {}, {}
    for key, value in (values or {}).items():
        (own if key in _hints(cls) else rest)[key] = value
    return own, rest


def parse_options(cls: type[T], values: Mapping[str, Any], *, model: str, listed: Iterable[type] = ()) -> T:
    """The options object of dataclass ``cls`` from ``values``, checked against each field's type first.

    An unknown key or a value of the wrong type is a :class:`BulkmodError` that names it and lists every option
    with its type and default (with those of ``listed``: option classes the caller read from the same dict).
    Range checks that need more than a type stay in the class's ``__post_init__``.
    """
    options = "; ".join(listing(cls, *listed))
    unknown = sorted(set(values) - set(_hints(cls)))
    if unknown:
        given = ", ".join(f"{k}={values[k]!r}" for k in unknown)
        raise BulkmodError(f"model {model!r} does not take that option: {given} (its options: {options})")
    checked = {}
    for key, value in values.items():
        hint = _hints(cls)[key]
        ok, checked[key] = _conform(hint, value)
        if not ok:
            raise BulkmodError(
                f"model {model!r}: option {key}={value!r} must be {type_name(hint)} (its options: {options})"
            )
    return cls(**checked)


def take_options(
    cls: type[T], keywords: Mapping[str, Any], params: Mapping[str, Any] | None, *, model: str
) -> tuple[T, dict[str, Any], dict[str, Any]]:
    """A composite model's options, and the keywords and params left over for its members.

    ``params`` win over keywords, as ``--param`` does. What is left over configures the members, which check it
    when they are built.
    """
    own, rest = split_options(cls, params)
    mine, member_config = split_options(cls, keywords)
    return parse_options(cls, mine | own, model=model), member_config, rest


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every estimator's options; a model with none (``mean``) keeps this empty one.

    Construction checks each field's type, so options built in code are held to the same rules as those read
    by :func:`parse_options`; a subclass adds its range checks in ``__post_init__`` after calling this one.
    """

    def __post_init__(self) -> None:
        for key, hint in _hints(type(self)).items():
            ok, value = _conform(hint, getattr(self, key))
            if not ok:
                raise BulkmodError(f"{type(self).__name__}: {key}={getattr(self, key)!r} must be {type_name(hint)}")
            object.__setattr__(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        """Every option by name: what ``config()`` saves, and what ``parse_options`` reads back."""
        return {name: getattr(self, name) for name in _hints(type(self))}

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (checked again), e.g. what a model's nested selection chose."""
        return dataclasses.replace(self, **changes)
