"""One exception type for every user-facing failure.

The CLI prints ``BulkmodError`` as a single line (file, problem, what to do) and exits non-zero;
anything else is a bug and keeps its traceback.
"""


class BulkmodError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class BulkmodWarning(UserWarning):
    """Something the user should know that does not stop the work; the CLI prints it as a ``note:``.

    For example, a saved model read with other library versions than it was trained with.
    """
