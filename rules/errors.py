"""The one error hierarchy of the rules engine."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule (or the facts given to it) cannot be used, said so a marketer can fix it.

    ``field`` names the part of the rule at fault (``condition``, ``effect.points``,
    ``limits.per_member.period``...). ``position`` is the 0-based character offset in
    the condition text, or None when the fault is not in the condition.
    ``suggestion`` is the nearest valid spelling when there is one.
    """

    reason = "invalid_rule"

    def __init__(
        self,
        message: str,
        position: int | None = None,
        suggestion: str | None = None,
        *,
        field: str = "condition",
        text: str | None = None,
    ) -> None:
        self.message = message
        self.position = position
        self.suggestion = suggestion
        self.field = field
        # The condition text, kept only to turn the offset into a line and column.
        self.text = text
        super().__init__(str(self))

    @property
    def line(self) -> int | None:
        """1-based line of the fault in the condition, or None."""
        if self.position is None:
            return None
        return (self.text or "").count("\n", 0, self.position) + 1

    @property
    def column(self) -> int | None:
        """1-based column of the fault in the condition, or None."""
        if self.position is None:
            return None
        text = self.text or ""
        return self.position - (text.rfind("\n", 0, self.position) + 1) + 1

    def __str__(self) -> str:
        where = ""
        if self.position is not None:
            where = f" (line {self.line}, column {self.column})" if "\n" in (self.text or "") else ""
            where = where or f" (column {self.column})"
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else ""
        return f"{self.field}: {self.message}{where}{hint}"

    def to_dict(self) -> dict[str, object]:
        """The error as JSON-ready data for an error envelope's ``errors``."""
        return {
            "field": self.field,
            "message": self.message,
            "position": self.position,
            "line": self.line,
            "column": self.column,
            "suggestion": self.suggestion,
        }


class FactError(RuleError):
    """The facts handed to the engine are incomplete or of the wrong type (a caller's bug)."""

    reason = "invalid_facts"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)
