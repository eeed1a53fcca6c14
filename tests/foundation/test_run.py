"""The thin slice end to end: `evidence run` on a copy of the data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import synthesize
from tests.foundation import csvedit


def run(data: Path, tmp: Path) -> tuple[int, str]:
    result = synthesize(data, tmp / "processed", tmp / "reports")
    return result.exit_code, result.output


def snapshot_of(root: Path) -> dict[str, bytes]:
    """Current outputs (the changelog, which records each rerun, is tested with the report)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "changelog.md" and not p.name.startswith(".")
    }


def test_run_writes_tables_and_summary_and_is_repeatable(data_copy: Path, tmp_path: Path) -> None:
    code, out = run(data_copy, tmp_path)
    assert code == 0, out
    table = tmp_path / "processed" / "baclofen" / "outcomes_by_tier.csv"
    summary = tmp_path / "reports" / "baclofen" / "summary.md"
    assert f"wrote {table}" in out and f"wrote {summary}" in out
    frame = pd.read_csv(table)
    assert list(frame.columns[:4]) == ["indication", "outcome", "dose_tier", "arm_role"]
    assert "spasticity" in set(frame["indication"])
    first = snapshot_of(tmp_path / "processed") | snapshot_of(tmp_path / "reports")
    code, _ = run(data_copy, tmp_path)
    assert code == 0
    assert snapshot_of(tmp_path / "processed") | snapshot_of(tmp_path / "reports") == first


def test_run_refuses_invalid_inputs_and_keeps_previous_outputs(
    data_copy: Path, tmp_path: Path
) -> None:
    assert run(data_copy, tmp_path)[0] == 0
    before = snapshot_of(tmp_path / "processed")
    csvedit.set_cell(data_copy / "outcomes.csv", {"row_id": "addolorato_2002-01"}, "events", "99")
    code, out = run(data_copy, tmp_path)
    assert code == 1
    assert "outcomes.csv:2: events: found '99'; expected events ≤ n (20)" in out
    assert snapshot_of(tmp_path / "processed") == before


def test_a_changed_rule_set_is_a_new_run_even_without_a_new_version(
    data_copy: Path, tmp_path: Path
) -> None:
    """Rules decide the ratings: the run id follows the rule set's bytes, not only its label."""
    from evidence.inputs.protocol import load_protocol
    from evidence.inputs.snapshot import load_snapshot

    proto_path = data_copy / "protocols" / "baclofen.yaml"
    proto = load_protocol(proto_path)
    before = load_snapshot(data_copy, proto, protocol_path=proto_path).input_hashes
    rules = data_copy / proto.rating.rule_set
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    after = load_snapshot(data_copy, proto, protocol_path=proto_path).input_hashes
    assert proto.rating.rule_set in before
    assert after[proto.rating.rule_set] != before[proto.rating.rule_set]
    assert {k: v for k, v in after.items() if k != proto.rating.rule_set} == {
        k: v for k, v in before.items() if k != proto.rating.rule_set
    }
