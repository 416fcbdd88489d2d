"""The one rooted error hierarchy of raspc.

Every error raspc raises on purpose derives from :class:`RaspcError`, and also
from the builtin a caller would naturally catch (``TypeError`` for a wrong kind
of argument, ``ValueError`` for a bad value), so both ``except RaspcError`` and
``except ValueError`` work.  Messages name the expression by label, say what
was expected and what was found, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "RaspcError",
    "RaspcTypeError",
    "RaspcValueError",
    "EvaluationError",
    "CompileError",
    "UnsupportedProgramError",
    "ModelFileError",
    "Problem",
    "RaspcWarning",
    "CausalWarning",
    "PartialFunctionWarning",
]


class RaspcError(Exception):
    """Root of every error raspc raises deliberately."""


class RaspcTypeError(RaspcError, TypeError):
    """An argument of the wrong kind (e.g. a Selector where an SOp belongs)."""


class RaspcValueError(RaspcError, ValueError):
    """An argument of the right kind with a bad value."""


class EvaluationError(RaspcValueError):
    """The reference evaluator cannot give a value for an expression on an input."""


Problem = tuple[str, str]
"""One compile problem: (expression label, reason and fix)."""


class CompileError(RaspcValueError):
    """The compiler refuses a program; ``problems`` lists every (label, reason)."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = [f"  - {label}: {reason}" for label, reason in self.problems]
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(
            f"cannot compile the program ({len(self.problems)} {noun}):\n" + "\n".join(lines)
        )


class UnsupportedProgramError(CompileError):
    """The program is valid RASP, but raspc cannot compile it faithfully."""


class ModelFileError(RaspcValueError):
    """A saved model directory is missing, corrupted or inconsistent; the message names
    the file and the field."""


class RaspcWarning(UserWarning):
    """Root of raspc's warnings: a result that is legal but may surprise the user."""


class CausalWarning(RaspcWarning):
    """A causal compile whose masked evaluation differs from the whole-input program."""


class PartialFunctionWarning(RaspcWarning):
    """A function raised (or returned an unencodable value) on some inputs that were
    mapped to None because the user opted in with ``partial=True``."""
