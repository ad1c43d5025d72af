"""User-facing errors.

Every problem a user can cause (bad model, bad config, bad data) is raised as a
:class:`QnncError`; the CLI prints its message as one paragraph and exits with code 2.
Anything else escaping the pipeline is a qnnc bug.
"""
from __future__ import annotations

from typing import Optional


class QnncError(Exception):
    """An error in the user's input, with enough context to fix it."""

    def __init__(self, message: str, *, file: Optional[str] = None, node: Optional[str] = None,
                 op: Optional[str] = None, key: Optional[str] = None, line: Optional[int] = None,
                 hint: Optional[str] = None):
        self.message = message
        self.file = file
        self.node = node
        self.op = op
        self.key = key
        self.line = line
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        """One paragraph: where, what, what was expected."""
        where = []
        if self.file:
            where.append(f"{self.file}" + (f":{self.line}" if self.line else ""))
        if self.node:
            where.append(f"node '{self.node}'" + (f" ({self.op})" if self.op else ""))
        elif self.op:  # an unnamed node
            where.append(f"an unnamed {self.op} node")
        if self.key:
            where.append(f"key '{self.key}'")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.hint:
            text += " " + self.hint
        return text


class ModelError(QnncError):
    """The ONNX model cannot be compiled."""


class ConfigError(QnncError):
    """The YAML configuration is invalid."""


class DataError(QnncError):
    """Calibration or test data is missing or does not fit the model."""


class OutputError(QnncError):
    """The output folder cannot be written."""
