"""Where a run reads its inputs and writes its outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evidence.safepath import ID_RULE, UnsafePath, check_id, inside, is_id

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
        check_id(protocol_id, "protocol_id")
        return self

    def tables(self, protocol_id: str) -> Path:
        """The protocol's tables: PROCESSED/<protocol_id>/, swapped in whole by each run."""
        pid = check_id(protocol_id, "protocol_id")
        inside(self.processed, pid)  # a symlink there must not lead elsewhere
        return self.processed / pid

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
        the data directory's only protocol.

        A path the user gives is the user's choice; a name becomes `DATA/protocols/NAME.yaml`,
        so it must be an id and the file must stay inside that folder.
        """
        folder = self.data / "protocols"
        if protocol is None:
            found = sorted(folder.glob("*.yaml"))
            if len(found) != 1:
                names = [p.stem for p in found]
                raise ValueError(
                    f"{folder}: {len(names)} protocols ({', '.join(names)}); "
                    "choose one with --protocol"
                )
            return found[0]
        p = Path(protocol)
        if p.suffix in {".yaml", ".yml"} or p.exists():
            return p
        name = str(protocol)
        if not is_id(name):
            raise UnsafePath(
                f"--protocol {name!r}: neither a protocol file nor a protocol name; {ID_RULE}"
            )
        inside(folder, f"{name}.yaml")
        return folder / f"{name}.yaml"
