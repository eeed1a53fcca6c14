"""Where a run reads its inputs and writes its outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evidence.safepath import check_id

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

    def for_protocol(self, protocol_id: str) -> Workspace:
        """Where one of several protocols run together writes: the same folders, since every
        protocol writes only its own `tables(id)`, `REPORTS/<id>/` and `runs/<run-id>/`."""
        return self

    def tables(self, protocol_id: str) -> Path:
        """The protocol's tables: PROCESSED/<protocol_id>/, swapped in whole by each run."""
        return self.processed / check_id(protocol_id, "protocol_id")

    def protocol_paths(self, given: list[str] | None) -> list[Path]:
        """Protocols named, given as files, or as directories of protocol files."""
        if not given:
            return [self.protocol_path(None)]
        out: list[Path] = []
        for item in given:
            p = Path(item)
            if p.is_dir():
                found = sorted(p.glob("*.yaml"))
                if not found:
                    raise ValueError(f"{p}: no protocol files (*.yaml) in this directory")
                out += found
            else:
                out.append(self.protocol_path(item))
        return out

    def protocol_names(self) -> list[str]:
        return sorted(p.stem for p in (self.data / "protocols").glob("*.yaml"))

    def protocol_path(self, protocol: str | Path | None) -> Path:
        """A protocol given by name (as under DATA/protocols/) or by path; when none is given,
        the data directory's only protocol."""
        if protocol is None:
            names = self.protocol_names()
            if len(names) != 1:
                raise ValueError(
                    f"{self.data / 'protocols'}: {len(names)} protocols ({', '.join(names)}); "
                    "choose one with --protocol"
                )
            protocol = names[0]
        p = Path(protocol)
        if p.suffix in {".yaml", ".yml"} or p.exists():
            return p
        return self.data / "protocols" / f"{protocol}.yaml"
