"""The one progress bar: hidden below each caller's threshold or when the caller says so, drawn otherwise."""

from __future__ import annotations

import pytest

from bulkmod.progress import progress_bar


@pytest.mark.parametrize(
    ("n", "min_items", "show", "hidden"),
    [(499, 500, True, True), (500, 500, True, False), (4, 5, True, True), (2, 3, True, True), (3, 3, True, False),
     (0, 0, True, False), (1000, 0, False, True)],
)  # fmt: skip
def test_a_bar_is_hidden_below_its_threshold_or_when_not_shown(n, min_items, show, hidden):
    items = list(range(n))
    bar = progress_bar(items, "t", min_items=min_items, show=show)
    assert bar.disable is hidden
    assert list(bar) == items  # a hidden bar still yields every item
    counted = progress_bar(desc="t", total=n, min_items=min_items, show=show)  # a bar the caller advances
    assert counted.disable is hidden
    counted.close()


def test_the_total_counts_over_the_length_and_an_unknown_count_shows_the_bar():
    assert progress_bar(range(10), "t", total=2, min_items=5).disable is True
    assert progress_bar((i for i in range(2)), "t", min_items=5).disable is False
    assert progress_bar(desc="t", show=True).disable is False
