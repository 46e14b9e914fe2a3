"""Make untrusted strings (file names, JSON ids, parser messages) safe to show in a terminal or a spreadsheet.

File names and ids come from users' data: they may hold ANSI escapes, bidirectional overrides, rich markup, bytes
that are not UTF-8, or a leading ``=`` that a spreadsheet runs as a formula when it opens the output CSV.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA_LEAD = ("=", "+", "-", "@")


def printable(text: object) -> str:
    r"""Control and direction-override characters as ``\xNN`` escapes; a non-UTF-8 file name's bytes likewise."""
    s = str(text)
    try:  # a file name that is not UTF-8 arrives with surrogate escapes: show its bytes
        raw = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates of another origin (a JSON "\ud800")
        raw = s.encode("utf-8", "backslashreplace")
    s = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", s)


def csv_cell(text: object) -> str:
    """``printable``, and a cell a spreadsheet would evaluate as a formula is quoted with a leading ``'``."""
    s = printable(text)
    return "'" + s if s.startswith(_FORMULA_LEAD) else s


def markup_safe(text: object) -> str:
    """``printable`` with rich's markup escaped, so ``[bold red]x.cif`` shows as written."""
    from rich.markup import escape

    return escape(printable(text))
