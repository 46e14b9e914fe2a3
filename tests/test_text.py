"""Strings from users' data shown safely: terminal escapes, direction overrides, markup, formulas, bad bytes."""

from bulkmod.text import csv_cell, markup_safe, printable


def test_control_and_override_characters_are_escaped():
    assert printable("a\x1b[31mb\u202ec\x00") == "a\\x1b[31mb\\u202ec\\x00"
    assert printable("x\udcff.cif") == "x\\xff.cif"  # a non-UTF-8 file name's byte, as os.fsdecode gives it
    assert printable("\ud800") == "\\ud800"  # a lone surrogate from a JSON escape
    assert printable("Fe2O3 é") == "Fe2O3 é"


def test_spreadsheet_formulas_are_neutralised_and_markup_shown_as_written():
    assert [csv_cell(s) for s in ("=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "NaCl")] == [
        "'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "NaCl"]  # fmt: skip
    from rich.console import Console

    console = Console(width=80, record=True)
    console.print(markup_safe("[bold red]x.cif"))
    assert console.export_text().strip() == "[bold red]x.cif"
