"""The "what this shows" cells (stanet_lib.report.findings) on the smoke run: the numbers they quote are the run's
own (chance 1/K, the switch table, the centre bias and map tables), and every stage's text names what it must."""

from __future__ import annotations

import json

import pandas as pd

from stanet_lib.report import findings


def test_stage02_quotes_chance_and_the_switch_table(smoke_world):
    text = findings.stage02(smoke_world)
    assert f"{1 / smoke_world.num_classes:.3f}" in text
    m = json.loads((smoke_world.runs / "stage02.manifest.json").read_text())["tables"]
    val = next(r for r in m["switch"] if r["set"] == "val")
    assert f"{val['switch_vs_truth_acc']:.3f}" in text and f"{val['matching_audio_rate']:.3f}" in text
    for r in m["accuracy"]:
        assert f"{r['net']} {r['val_acc']:.3f}" in text


def test_map_stages_quote_the_centre_bias_and_the_scored_frames(smoke_world):
    cb = findings.centre_bias(smoke_world)
    assert set(cb.index) == {s.split(":", 1)[1] for s in smoke_world.test_sets()}
    assert (cb["CC"] > 0).all()  # the centre bias is informative on the simulated gaze
    for stage in ("coarse", "fine"):
        text = findings.maps_stage(smoke_world, stage)
        df = pd.read_csv(smoke_world.runs / "tables" / f"{stage}_maps.csv")
        for db, g in df.groupby("db"):
            assert f"{db}: centre bias CC {cb.loc[db, 'CC']:.3f}" in text
            scam = g[g["variant"] == "SCAM"].iloc[0]
            assert f"scored on {int(scam['frames_scored'])} frames of {int(g['frames_scored'].max())}" in text
        assert "higher-is-better" in text and "synthetic" in text


def test_stage05_and_stage06_state_what_holds(smoke_world):
    text = findings.stage05(smoke_world)
    sta = pd.read_csv(smoke_world.runs / "tables" / "sta_metrics.csv")
    for r in sta[sta["model"] == "sta"].itertuples():
        assert f"{r.db}: STA net CC {r.CC:.3f}" in text and "of 5 metrics" in text
    orderings = findings.stage06(smoke_world)
    assert orderings.count("fine SCAM > coarse SCAM") == len(sta[sta["model"] == "sta"])
    assert all(w in orderings for w in ("holds", "SCAM_sel > SCAM_avg"))
