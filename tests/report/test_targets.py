"""The demo's targets (stanet_lib.report.targets): every row read from a run's own tables, held against its
threshold or the compared map, with the margin; a missing table leaves its rows out."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from stanet_lib.report.targets import demo_targets

M = "measured (this package)"
METRICS = ("AUC-J", "SIM", "s-AUC", "CC", "NSS")


def fake_run(tmp_path, sta_cc: float = 0.45, coarse_st: float = 0.36):
    tables, runs = tmp_path / "tables", tmp_path / "runs"
    tables.mkdir()
    runs.mkdir()
    pd.DataFrame({"db": ["A", "A"], "map": ["pseudo-fixations", "STA net"], "pointing": [0.8, 0.7],
                  "cc": [0.5, 0.4], "frames": 10, "box_area": 0.1}).to_csv(tables / "localisation.csv", index=False)
    t4 = {"source": [M, M, M, "quoted from the paper"],
          "method": ["STA net", "pseudo-fixations (fine SCAM)", "centre bias", "STA net"]}
    values = {"AUC-J": (0.88, 0.86, 0.74, 0.1), "SIM": (0.33, 0.32, 0.2, 0.1), "s-AUC": (0.65, 0.62, 0.5, 0.1),
              "CC": (sta_cc, 0.44, 0.2, 0.9), "NSS": (2.0, 1.9, 0.7, 0.1)}
    t4.update({f"A {m}": values[m] for m in METRICS})
    pd.DataFrame(t4).to_csv(tables / "table4.csv", index=False)
    pd.DataFrame({"source": [M] * 4 + ["quoted from the paper (Table 1)"],
                  "variant": ["A / CO. / SCAM_avg", "A / CO. / SCAM_sel", "A / FI. / SCAM_avg", "A / FI. / SCAM_sel",
                              "coarse / SCAM_sel"], "CC": [0.36, 0.38, 0.40, 0.45, 0.9]}
                 ).to_csv(tables / "table1.csv", index=False)
    pd.DataFrame({"source": [M] * 8, "variant": [f"A / {p} / {v}" for p in ("CO.", "FI.")
                                                 for v in ("CAM_S", "CAM_ST", "CAM_SA", "SCAM")],
                  "CC": [0.35, coarse_st, 0.30, 0.38, 0.37, 0.36, 0.40, 0.45]}).to_csv(tables / "table2.csv", index=False)
    pd.DataFrame({"source": [M] * 4, "variant": ["A / sta / STA net w/o. AS", "A / sta / STA net w. AS",
                                                 "A / unrelated audio (4 videos) / STA net w/o. AS",
                                                 "A / unrelated audio (4 videos) / STA net w. AS"],
                  "CC": [0.44, 0.45, 0.30, 0.29]}).to_csv(tables / "table3.csv", index=False)
    (runs / "stage02.manifest.json").write_text(json.dumps(
        {"tables": {"switch": [{"set": "train", "switch_vs_truth_acc": 0.5},
                               {"set": "val", "switch_vs_truth_acc": 0.917}]}}))
    return tables, runs


def test_every_target_read_and_judged(tmp_path):
    t = demo_targets(*fake_run(tmp_path)).set_index(["target", "db"])
    assert len(t) == 17 and t.index.is_unique
    assert t.loc[("pseudo-fixations: pointing", "A"), "value"] == 0.8
    assert t.loc[("pseudo-fixations: CC >= 1.3 x centre bias", "A"), "reference"] == pytest.approx(0.26)
    assert all(t.loc[(f"STA net >= centre bias: {m}", "A"), "holds"] for m in METRICS)
    assert t.loc[("STA net: CC >= 0.9 x pseudo-fixations", "A"), "reference"] == pytest.approx(0.396)
    assert t.loc[("SCAM_sel > SCAM_avg, fine", "A"), "margin"] == pytest.approx(0.05)
    row = t.loc[("CAM_ST or CAM_SA > CAM_S, fine", "A")]  # the better of ST (0.36) and SA (0.40)
    assert row["value"] == 0.40 and row["holds"] and "CAM_SA" in row["reference_is"]
    assert t.loc[("fine SCAM > each fine CAM", "A"), "reference"] == 0.40
    miss = t.loc[("STA with the switch > without, unrelated-audio videos", "A")]  # the unrelated rows, not all
    assert (miss["value"], miss["reference"], bool(miss["holds"])) == (0.29, 0.30, False)
    assert t.loc[("switch net: accuracy vs truth", "val"), "value"] == 0.917  # val, not train
    assert set(t.index[~t["holds"]]) == {("STA with the switch > without, unrelated-audio videos", "A")}


def test_strict_orderings_and_missing_tables(tmp_path):
    tables, runs = fake_run(tmp_path, sta_cc=0.2, coarse_st=0.35)
    t = demo_targets(tables, runs).set_index(["target", "db"])
    assert not t.loc[("CAM_ST or CAM_SA > CAM_S, coarse", "A"), "holds"]  # a tie is not above
    assert not t.loc[("STA net: CC >= 0.9 x pseudo-fixations", "A"), "holds"]
    (tables / "table3.csv").unlink()
    (runs / "stage02.manifest.json").unlink()
    left = demo_targets(tables, runs)
    assert len(left) == 15 and not left["target"].str.contains("switch").any()
