"""The seed spread (stanet_lib.report.spread): headline rows read from a run's own tables, mean and sample
standard deviation over seeds, the CSV and Markdown written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from stanet_lib import cli
from stanet_lib.report.spread import (
    headline,
    paired_targets,
    run_targets,
    spread_table,
    targets_long,
    write_paired_targets,
    write_seed_targets,
    write_spread,
)


def fake_run(tmp_path, name: str, shift: float):
    reports, runs = tmp_path / name / "reports", tmp_path / name / "runs"
    (reports / "tables").mkdir(parents=True)
    runs.mkdir(parents=True)
    pd.DataFrame({"db": ["A", "A", "A"], "map": ["pseudo-fixations", "STA net", "fine CAM_S"],
                  "pointing": [0.8 + shift, 0.7, 0.1], "cc": [0.5, 0.4 + shift, 0.1], "frames": 10,
                  "box_area": 0.1}).to_csv(reports / "tables" / "localisation.csv", index=False)
    pd.DataFrame({"source": ["measured (this package)", "quoted"], "method": ["STA net", "STA net"],
                  "A AUC-J": [0.9 + shift, 0.5], "A CC": [0.4, 0.0]}).to_csv(reports / "tables" / "table4.csv",
                                                                            index=False)
    (runs / "stage02.manifest.json").write_text(json.dumps(
        {"tables": {"switch": [{"set": "val", "switch_vs_truth_acc": 0.9 + shift}, {"set": "train"}]}}))
    return reports, runs


def test_headline_reads_the_runs_tables(tmp_path):
    h = headline(*fake_run(tmp_path, "s0", 0.0)).set_index(["quantity", "db"])["value"]
    assert h[("pseudo-fixations: pointing", "A")] == 0.8 and h[("STA net: CC", "A")] == 0.4
    assert h[("STA net: AUC-J", "A")] == 0.9  # the measured row, not the quoted one
    assert ("STA net: CC", "A") in h.index and h.index.is_unique  # CC once, from the localisation table
    assert h[("switch net: accuracy vs truth", "val")] == 0.9
    assert not any("CAM_S" in q for q, _ in h.index)  # only the headline maps


def test_spread_mean_and_sample_std(tmp_path):
    per_seed = {s: headline(*fake_run(tmp_path, f"s{s}", 0.1 * s)) for s in range(3)}
    t = write_spread(per_seed, tmp_path / "out", "demo").set_index(["quantity", "db"])
    row = t.loc[("pseudo-fixations: pointing", "A")]
    assert np.allclose(row[["seed 0", "seed 1", "seed 2"]].to_numpy(float), [0.8, 0.9, 1.0])
    assert np.isclose(row["mean"], 0.9) and np.isclose(row["std"], 0.1)
    assert np.isclose(t.loc[("pseudo-fixations: CC", "A"), "std"], 0.0)
    assert (tmp_path / "out" / "seed_spread.csv").is_file()
    assert "seeds 0, 1, 2" in (tmp_path / "out" / "seed_spread.md").read_text()
    assert spread_table({}).empty


def test_seed_targets_per_seed_and_how_many_hold(tmp_path):
    per_seed = {}
    for seed, (value, ref) in enumerate([(0.40, 0.35), (0.34, 0.35), (0.50, 0.35)]):
        reports = tmp_path / f"s{seed}" / "reports"
        (reports / "tables").mkdir(parents=True)
        pd.DataFrame({"target": ["CAM_ST or CAM_SA > CAM_S, coarse"], "db": ["A"], "value": [value],
                      "reference": [ref], "margin": [value - ref], "holds": [value > ref],
                      "reference_is": ["coarse CAM_S"]}).to_csv(reports / "tables" / "targets.csv", index=False)
        per_seed[seed] = run_targets(reports, tmp_path / "runs")
    t = write_seed_targets(per_seed, tmp_path / "out", "demo").iloc[0]
    assert t["seed 1"] == "0.3400 vs 0.3500" and not t["holds 1"] and t["holds 2"]
    assert t["holds on"] == "2 of 3" and np.isclose(t["smallest margin"], -0.01)
    # margins 0.05, -0.01, 0.15: mean 0.0633, sample sd 0.0808
    assert np.isclose(t["mean margin"], 0.19 / 3) and np.isclose(t["margin sd"], np.std([0.05, -0.01, 0.15], ddof=1))
    md = (tmp_path / "out" / "seed_targets.md").read_text()
    assert "seeds 0, 1, 2" in md and "| mean margin | margin sd |" in md and "| 0.0633 | 0.0808 |" in md


def test_seed_targets_margin_sd_is_blank_with_one_seed(tmp_path):
    reports = tmp_path / "s0" / "reports"
    (reports / "tables").mkdir(parents=True)
    pd.DataFrame({"target": ["x > y"], "db": ["A"], "value": [0.4], "reference": [0.35], "margin": [0.05],
                  "holds": [True]}).to_csv(reports / "tables" / "targets.csv", index=False)
    t = write_seed_targets({0: run_targets(reports, tmp_path / "runs")}, tmp_path / "out", "demo").iloc[0]
    assert np.isclose(t["mean margin"], 0.05) and np.isnan(t["margin sd"])


def _targets(tmp_path, name: str, cases: dict[int, list[tuple[str, float, float]]]):
    """A seed_targets.csv of ``cases``: seed -> [(target, value, reference)], db "A", read back as the CLI does."""
    per_seed = {}
    for seed, rows in cases.items():
        per_seed[seed] = pd.DataFrame({"target": [r[0] for r in rows], "db": "A", "value": [r[1] for r in rows],
                                       "reference": [r[2] for r in rows],
                                       "margin": [r[1] - r[2] for r in rows], "holds": [r[1] > r[2] for r in rows]})
    write_seed_targets(per_seed, tmp_path / name, "demo")
    return pd.read_csv(tmp_path / name / "seed_targets.csv")


def test_targets_long_reads_a_seed_targets_table_back(tmp_path):
    table = _targets(tmp_path, "a", {0: [("x > y", 0.40, 0.35), ("z > w", 0.30, 0.32)], 3: [("x > y", 0.34, 0.35)]})
    long = targets_long(table).set_index(["target", "seed"])
    assert len(long) == 3  # seed 3 has no "z > w" case: no row, not a NaN one
    assert np.isclose(long.loc[("x > y", 0), "margin"], 0.05) and long.loc[("x > y", 0), "holds"]
    assert not long.loc[("z > w", 0), "holds"] and not long.loc[("x > y", 3), "holds"]
    assert long.loc[("x > y", 3), "reference"] == 0.35 and long["db"].eq("A").all()


def test_paired_targets_count_flips_and_how_far_margins_move(tmp_path):
    a = targets_long(_targets(tmp_path, "a", {0: [("x > y", 0.40, 0.35), ("z > w", 0.33, 0.32)],
                                             1: [("x > y", 0.36, 0.35)]}))
    b = targets_long(_targets(tmp_path, "b", {0: [("x > y", 0.42, 0.35), ("z > w", 0.31, 0.32)],
                                             1: [("x > y", 0.36, 0.35)], 2: [("x > y", 0.5, 0.35)]}))
    paired = paired_targets(a, b)
    assert len(paired) == 3  # seed 2 is in b only
    row = paired.set_index(["target", "seed"]).loc[("z > w", 0)]
    assert row["flipped"] and row["holds_a"] and not row["holds_b"] and np.isclose(row["margin change"], -0.02)
    summary = write_paired_targets(a, b, tmp_path / "out", ("Intel", "EPYC")).set_index("target")
    assert summary.loc["x > y", "cases"] == 2 and summary.loc["x > y", "flipped"] == 0
    assert np.isclose(summary.loc["x > y", "largest |margin change|"], 0.02)
    total = summary.loc["all targets"]
    assert (total["cases"], total["holds a"], total["holds b"], total["flipped"]) == (3, 3, 2, 1)
    assert np.isclose(total["median |margin change|"], 0.02)
    md = (tmp_path / "out" / "seed_targets_paired.md").read_text()
    assert "run a: Intel, run b: EPYC" in md and "seeds 0, 1" in md
    assert "| all targets |  | 3 | 3 | 2 | 1 | 0.0200 |" in md
    assert len(pd.read_csv(tmp_path / "out" / "seed_targets_paired.csv")) == 3


def test_spread_pair_with_a_missing_table_is_one_line_before_any_seed(tmp_path, capsys):
    missing = tmp_path / "nope" / "seed_targets.csv"
    rc = cli.main(["spread", "--seeds", "987654", "--no-run", "--out", str(tmp_path / "out"),
                   "--pair-with", str(missing)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.startswith(f"error: {missing}: not a readable seed_targets.csv table")
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()  # nothing collected or written
