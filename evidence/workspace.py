"""Where a run reads its inputs and writes its outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA = Path("data/raw")
DEFAULT_PROCESSED = Path("data/processed")
DEFAULT_REPORTS = Path("reports")


@dataclass(frozen=True)
class Workspace:
    """The three directories every command works on, so tests and users can run on copies."""

    data: Path = DEFAULT_DATA
    processed: Path = DEFAULT_PROCESSED
    reports: Path = DEFAULT_REPORTS

    @property
    def pubmed_cache(self) -> Path:
        return self.data / "pubmed"

    def protocol_path(self, protocol: str | Path) -> Path:
        """A protocol given by name (`baclofen`) or by path."""
        p = Path(protocol)
        if p.suffix in {".yaml", ".yml"} or p.exists():
            return p
        return self.data / "protocols" / f"{protocol}.yaml"
