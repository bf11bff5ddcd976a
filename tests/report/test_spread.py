"""The seed spread (stanet_lib.report.spread): headline rows read from a run's own tables, mean and sample
standard deviation over seeds, the CSV and Markdown written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from stanet_lib.report.spread import headline, run_targets, spread_table, write_seed_targets, write_spread


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
    assert "seeds 0, 1, 2" in (tmp_path / "out" / "seed_targets.md").read_text()
