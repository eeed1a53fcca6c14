"""Ids are data, never paths: a protocol whose ids or file names could leave their folder is
refused before anything runs, and nothing on disk changes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from evidence import batch, pipeline
from evidence.cli import app
from evidence.inputs.importer import import_evidence_set
from evidence.inputs.protocol import ProtocolError, load_protocol
from evidence.inputs.validate import validate_inputs
from evidence.runs.workspace import Workspace
from evidence.safepath import UnsafePath
from tests.conftest import synthesize
from tests.foundation import csvedit

runner = CliRunner()
PROTOCOL = Path("protocols") / "baclofen.yaml"
SECRET = "TOP-SECRET-CANARY-7f3a"
BAD_IDS = ["..", "../x", "/tmp/x", "", "a/b", '"><img src=x onerror=alert(1)>']


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (symlinks as their target text), to compare before and after."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = b"-> " + os.readlink(p).encode()
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = b"<dir>"
    return out


@pytest.fixture
def layout(data_copy: Path, tmp_path: Path) -> dict[str, Path]:
    """Data, processed and reports under tmp, with canaries all around the reports folder."""
    out = tmp_path / "out"
    reports, processed = out / "reports", out / "processed"
    reports.mkdir(parents=True)
    canaries = [
        tmp_path / "canary.txt",  # the reports folder's grandparent
        out / "canary.txt",  # the reports folder's parent
        out / "beside" / "canary.txt",  # a folder beside --reports
        reports / "canary.txt",  # inside --reports
    ]
    for n, c in enumerate(canaries):
        c.parent.mkdir(parents=True, exist_ok=True)
        c.write_text(f"canary {n}\n", encoding="utf-8")
    (tmp_path / "secret.csv").write_text(f"study_id,indication\n{SECRET},x\n", encoding="utf-8")
    (tmp_path / "secret.yaml").write_text(f"rule_set: {SECRET}\nversion: '1.0.0'\n", "utf-8")
    return {"root": tmp_path, "data": data_copy, "processed": processed, "reports": reports}


def edit_protocol(data: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = data / PROTOCOL
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def validate(lay: dict[str, Path], *extra: str) -> Result:
    return runner.invoke(app, ["validate", "--data", str(lay["data"]), *extra])


def run(lay: dict[str, Path], *extra: str) -> Result:
    return synthesize(lay["data"], lay["processed"], lay["reports"], *extra)


def assert_refused(result: Result, *expected: str) -> None:
    """A clean refusal: non-zero exit, no traceback, the file and the field named."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, result.output


def set_at(doc: dict[str, Any], path: tuple[Any, ...], value: object) -> None:
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


# (field path in the YAML, field path in the message)
ID_FIELDS = [
    (("protocol_id",), "field protocol_id"),
    (("indications", 0, "id"), "field indications.0.id"),
    (("indications", 1, "outcomes", 0, "id"), "field indications.1.outcomes.0.id"),
    (("topics", 0), "field topics.0"),
]


@pytest.mark.parametrize("command", [validate, run], ids=["validate", "run"])
@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_protocol_id_that_is_not_a_plain_id_is_refused_and_nothing_changes(
    layout: dict[str, Path], command: Callable[..., Result], bad: str
) -> None:
    edit_protocol(layout["data"], lambda d: set_at(d, ("protocol_id",), bad))
    before = tree(layout["root"])
    result = command(layout)
    assert_refused(result, str(layout["data"] / PROTOCOL), "field protocol_id")
    assert tree(layout["root"]) == before
    assert not layout["processed"].exists()
    assert sorted(p.name for p in layout["reports"].iterdir()) == ["canary.txt"]


@pytest.mark.parametrize("command", [validate, run], ids=["validate", "run"])
@pytest.mark.parametrize(
    "where,bad",
    [
        (ID_FIELDS[1], ".."),
        (ID_FIELDS[1], "../../../escaped"),
        (ID_FIELDS[1], "<img src=x onerror=alert(1)>"),
        (ID_FIELDS[2], ".."),
        (ID_FIELDS[2], "../../escaped"),
        (ID_FIELDS[2], '"><svg onload=alert(1)>'),
        (ID_FIELDS[3], "../x"),
    ],
    ids=lambda v: v[1] if isinstance(v, tuple) else None,
)
def test_indication_outcome_and_topic_ids_are_refused_and_nothing_changes(
    layout: dict[str, Path],
    command: Callable[..., Result],
    where: tuple[tuple[Any, ...], str],
    bad: str,
) -> None:
    path, field = where
    edit_protocol(layout["data"], lambda d: set_at(d, path, bad))
    before = tree(layout["root"])
    result = command(layout)
    assert_refused(result, str(layout["data"] / PROTOCOL), field)
    assert tree(layout["root"]) == before
    assert not list(layout["root"].rglob("*.svg"))
    assert not (layout["root"] / "escaped").exists()


def test_figure_names_from_two_id_pairs_must_not_collide(data_copy: Path) -> None:
    # `x-y` + `c` + `z` and `x` + `y-c` + `z` would both write figures/x-y-c-z-forest.svg
    def change(d: dict[str, Any]) -> None:
        d["indications"][0]["id"] = "x-y"
        d["indications"][0]["comparisons"] = [{"id": "c", "label": "c"}]
        d["indications"][0]["outcomes"][0]["id"] = "z"
        d["indications"][1]["id"] = "x"
        d["indications"][1]["comparisons"] = [{"id": "y-c", "label": "y-c"}]
        d["indications"][1]["outcomes"][0]["id"] = "z"

    edit_protocol(data_copy, change)
    with pytest.raises(ProtocolError, match="same figure name: \\['x-y-c-z'\\]"):
        load_protocol(data_copy / PROTOCOL)


def test_outcome_ids_repeated_within_an_indication_are_refused(data_copy: Path) -> None:
    edit_protocol(
        data_copy,
        lambda d: set_at(d, ("indications", 0, "outcomes", 1, "id"), "spasticity_improved"),
    )
    with pytest.raises(ProtocolError, match="outcome ids of indication spasticity repeat"):
        load_protocol(data_copy / PROTOCOL)


@pytest.mark.parametrize(
    "path,value,field",
    [
        (("files", "studies"), "../../etc/passwd", "field files.studies"),
        (("files", "studies"), "/etc/passwd", "field files.studies"),
        (("files", "studies"), "../secret.csv", "field files.studies"),
        (("files", "claims"), "SECRET_ABS", "field files.claims"),
        (("files", "citations"), "citations/../../secret.yaml", "field files.citations"),
        (("rating", "rule_set"), "../x.yaml", "field rating.rule_set"),
        (("rating", "rule_set"), "../secret.yaml", "field rating.rule_set"),
        (("rating", "rule_set"), "SECRET_ABS", "field rating.rule_set"),
    ],
)
@pytest.mark.parametrize("command", [validate, run], ids=["validate", "run"])
def test_protocol_files_outside_the_data_folder_are_refused_unread(
    layout: dict[str, Path],
    command: Callable[..., Result],
    path: tuple[str, ...],
    value: str,
    field: str,
) -> None:
    if value == "SECRET_ABS":
        value = str(layout["root"] / ("secret.yaml" if path[0] == "rating" else "secret.csv"))
    edit_protocol(layout["data"], lambda d: set_at(d, path, value))
    before = tree(layout["root"])
    result = command(layout)
    assert_refused(result, str(layout["data"] / PROTOCOL), field)
    assert SECRET not in result.output
    assert "root:" not in result.output  # nothing of /etc/passwd
    assert tree(layout["root"]) == before


@pytest.mark.parametrize(
    "name", ["studies.csv", "claims/baclofen.yaml", "rules/evidence_levels_v3.yaml"]
)
def test_a_symlink_out_of_the_data_folder_is_not_followed(
    layout: dict[str, Path], name: str
) -> None:
    """The names pass the shape check; the proof at use resolves the link and refuses it."""
    data = layout["data"]
    target = layout["root"] / ("secret.csv" if name.endswith(".csv") else "secret.yaml")
    (data / name).unlink()
    (data / name).symlink_to(target)
    field = {
        "studies.csv": "files.studies",
        "claims/baclofen.yaml": "files.claims",
        "rules/evidence_levels_v3.yaml": "rating.rule_set",
    }[name]
    proto = load_protocol(data / PROTOCOL)
    issues = validate_inputs(data, proto)[1]
    assert ("protocols/baclofen.yaml", field) in [(i.file, i.row) for i in issues]
    if name != "studies.csv":  # without studies, every study reference dangles too
        assert [(i.file, i.row) for i in issues] == [("protocols/baclofen.yaml", field)]
    assert all(SECRET not in str(i) for i in issues)

    before = tree(layout["root"])
    for result in (validate(layout), run(layout)):
        assert_refused(result, field, "inside the data folder")
        assert SECRET not in result.output
    # The run got as far as taking its lock in --processed, and wrote nothing else.
    after = tree(layout["root"])
    lock = {k for k in after if k.startswith("out/processed")}
    assert {k: v for k, v in after.items() if k not in lock} == before
    assert lock <= {"out/processed", "out/processed/.evidence-baclofen.lock"}


def test_the_rating_step_proves_its_rule_set_inside_the_data_folder(
    layout: dict[str, Path],
) -> None:
    data = layout["data"]
    rules = data / "rules" / "evidence_levels_v3.yaml"
    assert pipeline.rules_file(rules, "rules/evidence_levels_v3.yaml") == rules.resolve()
    with pytest.raises(UnsafePath, match=r"not the protocol's rating\.rule_set"):
        pipeline.rules_file(layout["root"] / "secret.yaml", "rules/evidence_levels_v3.yaml")
    outside = layout["root"] / "rules.yaml"
    outside.write_bytes(rules.read_bytes())
    rules.unlink()
    rules.symlink_to(outside)
    with pytest.raises(UnsafePath, match="would leave"):
        pipeline.rules_file(rules, "rules/evidence_levels_v3.yaml")


@pytest.mark.parametrize("name", ["../x", "a/b", "/etc/passwd-x", "X", "a b"])
def test_a_protocol_named_on_the_command_line_must_be_an_id(
    layout: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An existing path is the user's choice of file or folder (below); from the test's own
    # folder, none of these names is one, wherever the checkout lies (`../x` beside it).
    monkeypatch.chdir(layout["root"])
    before = tree(layout["root"])
    for result in (validate(layout, "--protocol", name), run(layout, "--protocol", name)):
        assert result.exit_code != 0
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert "root:" not in result.output
    assert tree(layout["root"]) == before
    ws = Workspace(layout["data"], layout["processed"], layout["reports"])
    with pytest.raises(UnsafePath, match="protocol name"):
        ws.protocol_path(name)


def test_a_protocol_given_as_a_path_stays_the_users_choice(layout: dict[str, Path]) -> None:
    elsewhere = layout["root"] / "elsewhere.yaml"
    elsewhere.write_bytes((layout["data"] / PROTOCOL).read_bytes())
    result = validate(layout, "--protocol", str(elsewhere))
    assert result.exit_code == 0, result.output
    ws = Workspace(layout["data"])
    assert ws.protocol_path("baclofen") == layout["data"] / PROTOCOL
    assert ws.protocol_path(None) == layout["data"] / PROTOCOL


@pytest.mark.parametrize("bad", BAD_IDS)
def test_protocol_folders_join_only_plain_ids(tmp_path: Path, bad: str) -> None:
    ws = Workspace(tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    with pytest.raises(UnsafePath, match="protocol_id"):
        ws.for_protocol(bad)
    with pytest.raises(UnsafePath, match="protocol_id"):
        ws.tables(bad)
    assert ws.tables("baclofen") == tmp_path / "processed" / "baclofen"


def test_the_tables_folder_refuses_a_symlink_leading_out(tmp_path: Path) -> None:
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "baclofen").symlink_to(tmp_path)
    with pytest.raises(UnsafePath, match="would leave"):
        Workspace(tmp_path, tmp_path / "processed").tables("baclofen")


def test_plan_and_load_refuse_a_bad_id_before_any_run(layout: dict[str, Path]) -> None:
    """What the Prefect flows call first: `batch.plan` (many) and `pipeline.load` (one)."""
    data = layout["data"]
    second = data / "protocols" / "second.yaml"
    second.write_bytes((data / PROTOCOL).read_bytes())
    edit_protocol(data, lambda d: set_at(d, ("protocol_id",), "../.."))
    ws = Workspace(data, layout["processed"], layout["reports"])
    before = tree(layout["root"])
    with pytest.raises(ProtocolError, match="field protocol_id"):
        batch.plan(ws, [str(data / "protocols")])
    with pytest.raises(ProtocolError, match="field protocol_id"):
        pipeline.load(ws, "baclofen")
    assert tree(layout["root"]) == before


def test_data_rows_naming_ids_are_checked_against_the_protocol(data_copy: Path) -> None:
    """`indication` must be one of the protocol's ids; `study_id`/`outcome` are plain ids."""
    line_i = csvedit.set_cell(data_copy / "studies.csv", {}, "indication", "../../escaped")
    line_o = csvedit.set_cell(data_copy / "outcomes.csv", {}, "outcome", "../x")
    issues = {
        (i.file, i.row, i.field)
        for i in validate_inputs(data_copy, load_protocol(data_copy / PROTOCOL))[1]
    }
    assert ("studies.csv", line_i, "indication") in issues
    assert ("outcomes.csv", line_o, "outcome") in issues


@pytest.mark.parametrize("bad", ["../x", "..", "", "/tmp/x", "a/b"])
def test_import_refuses_a_protocol_id_before_writing(tmp_path: Path, bad: str) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    with pytest.raises(UnsafePath, match="--protocol"):
        import_evidence_set(src, dest, bad)
    result = runner.invoke(
        app, ["import-evidence", str(src), "--protocol", bad, "--data", str(dest)]
    )
    assert_refused(result, "--protocol")
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"]


@pytest.mark.parametrize("bad", ["../../x", "..", "/etc"])
def test_diff_takes_run_ids_not_paths(tmp_path: Path, bad: str) -> None:
    result = runner.invoke(app, ["diff", bad, "b", "--processed", str(tmp_path)])
    assert result.exit_code == 2
    assert "run id" in result.output
