"""Diagnostics: one error or warning, pinned to a file, line and column."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    col: int
    message: str
    path: str = ""
    fix: str | None = field(default=None, compare=False)
    severity: str = field(default="error", compare=False)

    def render(self) -> str:
        where = f" ({self.path})" if self.path else ""
        fix = f"\n    fix: {self.fix}" if self.fix else ""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}{where}{fix}"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class SpecError(Exception):
    """Raised when the specs do not load or validate; carries every diagnostic of the run."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics)
        super().__init__(f"{len(self.diagnostics)} error(s) in the specs")
