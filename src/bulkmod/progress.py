"""One progress bar for every long loop, on stderr so a bar never mixes with results written to stdout.

Each caller decides when a bar is worth drawing (``min_items``): below that many items it would only flicker,
and a loop that is fast per item needs a higher threshold than one that takes seconds per item.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sized
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(
    iterable: Iterable[T] | None = None,
    desc: str = "",
    *,
    total: int | None = None,
    unit: str = "it",
    min_items: int = 0,
    show: bool = True,
    **options: Any,
) -> tqdm[T]:
    """A tqdm bar over ``iterable`` (or, without one, a bar the caller advances with ``update``).

    Hidden when ``show`` is false or when fewer than ``min_items`` items are counted (``total``, else the
    iterable's length where it has one); ``options`` go to tqdm as they are (``leave``, ``initial``, ``smoothing``).
    """
    count = total if total is not None else len(iterable) if isinstance(iterable, Sized) else None
    hidden = not show or (count is not None and count < min_items)
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, disable=hidden, **options)
