"""Check every input file against its schema and against the other files, in one pass.

Each problem names the file, the row (CSV line number, or the path inside a YAML file) and the
field, and says what was found and what was expected. Inputs are only read, never modified.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from evidence.inputs.documents import Citations, Claims
from evidence.inputs.protocol import Protocol
from evidence.inputs.schemas import (
    DESIGNS,
    DOI_RE,
    PMID_RE,
    RANDOMISED_DESIGNS,
    ROB_DOMAINS,
    ROUTE_DOSE_FIELD,
    ROUTE_DOSE_UNITS,
    TABLES,
    is_http_url,
)
from evidence.inputs.screening import COLUMNS as SCREENING_COLUMNS
from evidence.inputs.screening import (
    Decision,
    load_decisions,
    pmid_record,
    problems,
    study_record,
)
from evidence.inputs.textfile import InputFileError, read_csv_rows
from evidence.inputs.yamlfile import load_yaml
from evidence.safepath import UnsafePath, inside, is_pmid

# (table, lower bound, upper bound) columns that must be in order when both are given.
ORDERED_PAIRS = (
    ("studies", "dose_min", "dose_max"),
    ("study_effects", "ci_low", "ci_high"),
    ("published_syntheses", "ci_low", "ci_high"),
    ("dosing_facts", "value_min", "value_max"),
)


# Tables a run cannot do without: one holding only its header is refused here, not in the
# middle of a run.
NEEDS_ROWS = frozenset({"studies", "outcomes", "study_effects", "pubmed_records"})


@dataclass(frozen=True, order=True)
class Issue:
    file: str
    row: int | str
    field: str
    found: str
    expected: str

    def __str__(self) -> str:
        found = self.found if len(self.found) <= 80 else self.found[:77] + "..."
        return f"{self.file}:{self.row}: {self.field}: found {found!r}; {self.expected}"

    def sort_key(self) -> tuple[str, int, str, str]:
        row = self.row if isinstance(self.row, int) else 0
        return (self.file, row, str(self.row), self.field)


@dataclass
class TableRows:
    """The text rows of one table, with line numbers, for checks across files."""

    name: str
    path: Path
    rows: list[tuple[int, dict[str, str]]]
    header: list[str] = field(default_factory=list)  # as read; loading types these rows


def _msg(err: dict) -> str:
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def check_rows(
    name: str, path: Path, model: type[BaseModel], key: tuple[str, ...]
) -> tuple[TableRows, list[Issue]]:
    issues: list[Issue] = []
    label = path.name
    if not path.is_file():
        return TableRows(name, path, []), [
            Issue(label, 0, "(file)", "missing", "expected the file")
        ]
    try:
        header, rows = read_csv_rows(path, label)
    except InputFileError as exc:
        return TableRows(name, path, []), [file_issue(exc)]
    required = [f for f, info in model.model_fields.items() if info.is_required()]
    known = set(model.model_fields)
    for col in _repeated(header):
        issues.append(Issue(label, 1, col, "twice in the header", "expected each column once"))
    if not rows and name in NEEDS_ROWS:
        issues.append(
            Issue(label, 2, "(row)", "no rows", "expected at least one row (a run needs them)")
        )
    for col in known:
        if col not in header:
            issues.append(
                Issue(label, 1, col, "no such column", "expected the column in the header")
            )
    if any(i.field in required for i in issues):
        return TableRows(name, path, rows, header), issues
    seen: dict[tuple[str, ...], int] = {}
    for line, row in rows:
        if "__width__" in row:
            issues.append(
                Issue(
                    label,
                    line,
                    "(row)",
                    f"{row['__width__']} fields",
                    f"expected {len(header)} fields as in the header",
                )
            )
            continue
        try:
            model.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                fld = str(err["loc"][0]) if err["loc"] else "(row)"
                issues.append(Issue(label, line, fld, row.get(fld, ""), _msg(err)))
        k = tuple(row.get(c, "") for c in key)
        if key and all(k):
            if k in seen:
                issues.append(
                    Issue(
                        label,
                        line,
                        "+".join(key),
                        "|".join(k),
                        f"expected a unique key (also on line {seen[k]})",
                    )
                )
            else:
                seen[k] = line
    return TableRows(name, path, rows, header), issues


def _num(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return None


def check_cross(tables: dict[str, TableRows], protocol: Protocol) -> list[Issue]:
    issues: list[Issue] = []
    studies = {r["study_id"]: (line, r) for line, r in tables["studies"].rows if r.get("study_id")}
    questions = protocol.question_ids

    for line, r in tables["studies"].rows:
        if r.get("indication") and r["indication"] not in questions:
            issues.append(
                Issue(
                    "studies.csv",
                    line,
                    "indication",
                    r["indication"],
                    f"expected an indication or topic of protocol "
                    f"{protocol.protocol_id}: {', '.join(sorted(questions))}",
                )
            )
        lo, hi = _num(r.get("dose_min", "")), _num(r.get("dose_max", ""))
        unit, route = r.get("dose_unit", ""), r.get("route", "")
        if (lo is not None or hi is not None) and not unit:
            issues.append(
                Issue("studies.csv", line, "dose_unit", "", "expected a unit with a dose")
            )
        if unit and route in ROUTE_DOSE_UNITS and unit not in ROUTE_DOSE_UNITS[route]:
            issues.append(
                Issue(
                    "studies.csv",
                    line,
                    "dose_unit",
                    unit,
                    f"expected a unit for route {route}: "
                    f"{', '.join(sorted(ROUTE_DOSE_UNITS[route]))}",
                )
            )

    def resolve(table: str, col: str) -> None:
        for line, r in tables[table].rows:
            sid = r.get(col, "")
            if sid and sid not in studies:
                issues.append(
                    Issue(
                        tables[table].path.name,
                        line,
                        col,
                        sid,
                        "expected a study_id of studies.csv",
                    )
                )

    for t in ("outcomes", "study_effects", "pubmed_records"):
        resolve(t, "study_id")
    resolve("published_syntheses", "review_id")
    if "risk_of_bias" in tables:
        resolve("risk_of_bias", "study_id")
        issues += _check_risk_of_bias(tables["risk_of_bias"], studies)

    for line, r in tables["outcomes"].rows:
        n, ev = _num(r.get("n", "")), _num(r.get("events", ""))
        if n is not None and n > 0 and ev is not None and ev > n:
            issues.append(
                Issue(
                    "outcomes.csv", line, "events", r["events"], f"expected events ≤ n ({r['n']})"
                )
            )
        if r.get("derived") == "true" and not r.get("derived_how", "").strip():
            issues.append(
                Issue(
                    "outcomes.csv",
                    line,
                    "derived_how",
                    "",
                    "expected how the value was derived when derived is true",
                )
            )
        study = studies.get(r.get("study_id", ""))
        route = study[1].get("route", "") if study else ""
        want = ROUTE_DOSE_FIELD.get(route)
        for fld in ("dose_mg_day", "dose_ug_day"):
            if r.get(fld) and want and fld != want:
                issues.append(
                    Issue(
                        "outcomes.csv",
                        line,
                        fld,
                        r[fld],
                        f"expected the dose in {want} for route {route} (study {r['study_id']})",
                    )
                )

    favours = f"favours_{protocol.drug.name}"
    for line, r in tables["study_effects"].rows:
        d = r.get("direction", "")
        if d.startswith("favours_") and d not in (favours, "favours_control"):
            issues.append(
                Issue(
                    "study_effects.csv",
                    line,
                    "direction",
                    d,
                    f"expected {favours} (the protocol's drug) or favours_control",
                )
            )
    for table, low, high in ORDERED_PAIRS:
        for line, r in tables[table].rows:
            lo, hi = _num(r.get(low, "")), _num(r.get(high, ""))
            if lo is not None and hi is not None and lo > hi:
                issues.append(
                    Issue(
                        tables[table].path.name,
                        line,
                        low,
                        r[low],
                        f"expected {low} ≤ {high} ({r[high]})",
                    )
                )
    return issues


def _check_risk_of_bias(
    table: TableRows, studies: dict[str, tuple[int, dict[str, str]]]
) -> list[Issue]:
    """RoB 2 judgements belong to randomised trials, and the overall judgement is never
    milder than its worst domain (RoB 2: any domain at high risk makes the trial high risk;
    low overall needs every domain low)."""
    issues: list[Issue] = []
    label = table.path.name
    for line, r in table.rows:
        study = studies.get(r.get("study_id", ""))
        design = study[1].get("design", "") if study else ""
        # A design outside the vocabulary is reported on studies.csv already.
        if study and design in DESIGNS and design not in RANDOMISED_DESIGNS:
            issues.append(
                Issue(
                    label,
                    line,
                    "study_id",
                    r["study_id"],
                    f"expected a randomised trial ({', '.join(RANDOMISED_DESIGNS)}) for RoB 2 "
                    f"judgements; studies.csv gives design {design or '(empty)'}",
                )
            )
        domains = [r.get(d, "") for d in ROB_DOMAINS]
        overall = r.get("overall", "")
        if "high" in domains and overall and overall != "high":
            worst = ", ".join(d for d in ROB_DOMAINS if r.get(d) == "high")
            issues.append(
                Issue(
                    label,
                    line,
                    "overall",
                    overall,
                    f"expected high: {worst} is high",
                )
            )
        if overall == "low" and any(d != "low" for d in domains):
            issues.append(
                Issue(label, line, "overall", overall, "expected low only when every domain is low")
            )
    return issues


def file_issue(exc: InputFileError) -> Issue:
    """A file that cannot be read as UTF-8 text, CSV or YAML, at the line it fails on."""
    where = f" at column {exc.column}" if exc.column else ""
    return Issue(exc.label, exc.line, "(file)", exc.problem + where, "expected UTF-8 text")


def _repeated(values: list[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def _yaml(path: Path, label: str | None = None) -> tuple[object, list[Issue]]:
    if not path.is_file():
        return None, [Issue(label or path.name, 0, "(file)", "missing", "expected the file")]
    try:
        return load_yaml(path, label or path.name), []
    except InputFileError as exc:
        return None, [file_issue(exc)]


def _model_issues(label: str, exc: ValidationError) -> list[Issue]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        out.append(
            Issue(
                label,
                loc,
                err["loc"][-1] if err["loc"] else "(top)",
                repr(err.get("input"))[:80],
                _msg(err),
            )
        )
    return out


def data_file(data: Path, protocol: Protocol, name: str) -> Path:
    """The protocol's file `name` (a field of `files`), proven to lie inside the data folder.

    Raises `UnsafePath` naming the protocol field, never reading what the path points at.
    """
    value = getattr(protocol.files, name)
    try:
        return inside(data, value)
    except UnsafePath:
        raise UnsafePath(
            f"{_protocol_label(protocol)}: field files.{name}: {value!r} is not a file inside "
            f"the data folder {data}"
        ) from None


def _protocol_label(protocol: Protocol) -> str:
    return f"protocols/{protocol.protocol_id}.yaml"


def _outside(protocol: Protocol, name: str, where: str = "files") -> Issue:
    value = protocol.rating.rule_set if where == "rating" else getattr(protocol.files, name)
    return Issue(
        _protocol_label(protocol),
        f"{where}.{name}",
        name,
        str(value),
        "expected a file inside the data folder (not read)",
    )


def check_rule_set(data: Path, protocol: Protocol) -> list[Issue]:
    """The rule set must exist inside the data folder, and pass `rulecheck` (the rating step
    reads it)."""
    from evidence.inputs.rulecheck import check_rule_set_file

    try:
        path = inside(data, protocol.rating.rule_set)
    except UnsafePath:
        return [_outside(protocol, "rule_set", "rating")]
    if not path.is_file():
        return [Issue(protocol.rating.rule_set, 0, "(file)", "missing", "expected the file")]
    return check_rule_set_file(path, protocol.rating.rule_set, protocol)


def check_documents(data: Path, protocol: Protocol, study_ids: set[str]) -> list[Issue]:
    issues: list[Issue] = []
    numbers: set[int] = set()
    for name in ("citations", "claims"):
        if getattr(protocol.files, name):
            try:
                data_file(data, protocol, name)
            except UnsafePath:
                issues.append(_outside(protocol, name))
    if issues:
        return issues
    if protocol.files.citations:
        path = data_file(data, protocol, "citations")
        raw, errs = _yaml(path, protocol.files.citations)
        issues += errs
        label = protocol.files.citations
        if raw is not None:
            try:
                cites = Citations.model_validate(raw)
            except ValidationError as exc:
                issues += _model_issues(label, exc)
            else:
                counts = Counter(c.number for c in cites.citations)
                for i, c in enumerate(cites.citations):
                    numbers.add(c.number)
                    if counts[c.number] > 1:
                        issues.append(
                            Issue(
                                label,
                                f"citations[{i}]",
                                "number",
                                str(c.number),
                                "expected each citation number once",
                            )
                        )
                    for j, cand in enumerate(c.candidates):
                        where = f"citations[{i}].candidates[{j}]"
                        if cand.study_id not in study_ids:
                            issues.append(
                                Issue(
                                    label,
                                    where,
                                    "study_id",
                                    cand.study_id,
                                    "expected a study_id of studies.csv",
                                )
                            )
                        if cand.pmid and not PMID_RE.fullmatch(str(cand.pmid)):
                            issues.append(
                                Issue(
                                    label,
                                    where,
                                    "pmid",
                                    str(cand.pmid),
                                    "expected a PMID: digits only",
                                )
                            )
                        if cand.doi and not DOI_RE.fullmatch(str(cand.doi)):
                            issues.append(
                                Issue(
                                    label,
                                    where,
                                    "doi",
                                    str(cand.doi),
                                    "expected a DOI such as 10.1000/xyz",
                                )
                            )
                        for k, url in enumerate(cand.source_urls):
                            if not is_http_url(url):
                                issues.append(
                                    Issue(
                                        label,
                                        f"{where}.source_urls[{k}]",
                                        "source_urls",
                                        str(url),
                                        "expected an http(s) URL",
                                    )
                                )
    if protocol.files.claims:
        path = data_file(data, protocol, "claims")
        raw, errs = _yaml(path, protocol.files.claims)
        issues += errs
        label = protocol.files.claims
        if raw is not None:
            try:
                claims = Claims.model_validate(raw)
            except ValidationError as exc:
                issues += _model_issues(label, exc)
            else:
                uses = claims.tables["uses"].rows if "uses" in claims.tables else []
                rows = {str(r.get("indication")) for r in uses}
                for ind in protocol.indications:
                    if ind.article_row and ind.article_row not in rows:
                        issues.append(
                            Issue(
                                _protocol_label(protocol),
                                f"indications[{ind.id}]",
                                "article_row",
                                ind.article_row,
                                f"expected a row of the claims' uses table: "
                                f"{', '.join(sorted(rows))}",
                            )
                        )
                for tname, table in claims.tables.items():
                    for i, row in enumerate(table.rows):
                        for num in row.get("sources", []) or []:  # type: ignore[union-attr]
                            if numbers and num not in numbers:
                                issues.append(
                                    Issue(
                                        label,
                                        f"tables.{tname}.rows[{i}]",
                                        "sources",
                                        str(num),
                                        f"expected a citation number of {protocol.files.citations}",
                                    )
                                )
    return issues


def known_records(
    data: Path,
    protocol: Protocol,
    tables: dict[str, TableRows],
    cache: Path,
    named: Iterable[str] | None = None,
) -> set[str]:
    """Record ids a screening decision may name: the studies, their PMIDs, the cached PubMed
    records and the protocol's queue. With `named` (the record ids the decisions name), the
    store is asked about those PMIDs only, not listed whole."""
    from evidence.pubmed.cache import cached_pmids, cached_sources
    from evidence.pubmed.search import QUEUE_FILE, load_queue

    out = {study_record(r["study_id"]) for _, r in tables["studies"].rows if r.get("study_id")}
    pmids = {
        r["pmid"] for t in ("studies", "pubmed_records") for _, r in tables[t].rows if r.get("pmid")
    }
    if named is None:
        pmids |= set(cached_pmids(cache))
    else:
        asked = [r.removeprefix("pmid:") for r in named if r.startswith("pmid:")]
        pmids |= set(cached_sources(cache, [p for p in asked if is_pmid(p)]))
    pmids |= {q.pmid for q in load_queue(cache / QUEUE_FILE) if q.protocol == protocol.protocol_id}
    return out | {pmid_record(p) for p in pmids}


def check_screening(
    data: Path, protocol: Protocol, tables: dict[str, TableRows], cache: Path
) -> list[Issue]:
    """screening.csv: its columns, and each decision against the records, the protocol's
    reasons and the decision it supersedes. No file yet means nothing has been screened."""
    try:
        path = data_file(data, protocol, "screening")
    except UnsafePath:
        return [_outside(protocol, "screening")]
    if not path.is_file():
        return []
    label = path.name
    try:
        header, _ = read_csv_rows(path, label)
    except InputFileError as exc:
        return [file_issue(exc)]
    issues = [
        Issue(label, 1, col, "no such column", "expected the column in the header")
        for col in SCREENING_COLUMNS
        if col not in header
    ]
    if issues:
        return issues
    known = known_records(
        data, protocol, tables, cache, [d.record for d in load_decisions(path)]
    )
    reasons = protocol.screening.reasons
    before: dict[str, Decision] = {}
    _, rows = read_csv_rows(path)
    for (_, raw), d in zip(rows, load_decisions(path), strict=True):
        if "__width__" in raw:
            issues.append(
                Issue(
                    label,
                    d.line,
                    "(row)",
                    f"{raw['__width__']} fields",
                    f"expected {len(header)} fields as in the header",
                )
            )
            continue
        for fld, found, expected in problems(d, reasons, known, before.get(d.record)):
            issues.append(Issue(label, d.line, fld, found, expected))
        before[d.record] = d
    return issues


def validate_inputs(
    data: Path, protocol: Protocol, cache: Path | None = None
) -> tuple[dict[str, TableRows], list[Issue]]:
    """All problems in the data directory under `protocol`, sorted by file and row.

    `cache` is the PubMed cache screening decisions may name (default DATA/pubmed)."""
    data = Path(data)
    tables: dict[str, TableRows] = {}
    issues: list[Issue] = []
    for name, (model, key) in TABLES.items():
        if getattr(protocol.files, name) is None:  # an optional file the protocol does not use
            continue
        try:
            path = data_file(data, protocol, name)
        except UnsafePath:
            tables[name] = TableRows(name, data / name, [])
            issues.append(_outside(protocol, name))
            continue
        rows, errs = check_rows(name, path, model, key)
        tables[name] = rows
        issues += errs
    if any(i.field == "(file)" for i in issues):
        # A table that could not be read at all: checks across files would only report its
        # rows as missing, hundreds of times over.
        issues += check_rule_set(data, protocol)
        return tables, sorted(set(issues), key=Issue.sort_key)
    issues += check_cross(tables, protocol)
    if protocol.files.screening:
        issues += check_screening(data, protocol, tables, Path(cache or data / "pubmed"))
    study_ids = {r["study_id"] for _, r in tables["studies"].rows if r.get("study_id")}
    issues += check_documents(data, protocol, study_ids)
    issues += check_rule_set(data, protocol)
    return tables, sorted(set(issues), key=Issue.sort_key)
