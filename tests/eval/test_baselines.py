"""Baselines (consumed by the evaluation directly), Table 4 / ablation tables, the quoted paper numbers."""

import math
import re

import numpy as np
import pandas as pd
import pytest
from _stavis_fixtures import make_layout

from stanet_lib import baselines as B
from stanet_lib import evaluation as E
from stanet_lib import published as P
from stanet_lib import tables as T
from stanet_lib.paths import SHARED_DIR

PAPER_TXT = SHARED_DIR / "reference" / "paper_stanet_cvpr2021.txt"
VIDEOS = {"b1": 5, "b2": 4}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = make_layout(tmp_path_factory.mktemp("b") / "data", "AVAD", VIDEOS, {1: ["b1"], 2: ["b2"]},
                       shape=(24, 40), fix_per_frame=6, seed=11)
    return root


def test_centre_bias_and_constant_maps():
    c = B.centre_bias((9, 16), sigma_frac=0.25)
    assert c.shape == (9, 16) and 0.98 < c.max() <= 1.0 and c[4].argmax() in (7, 8)
    assert c[4, 0] == pytest.approx(c[4, 15]) and c[0, 8] == pytest.approx(c[8, 8])
    assert c[4, 0] == pytest.approx(math.exp(-0.5 * (7.5 / 4) ** 2))  # row 4 is the centre row (y = 0)
    assert np.all(B.constant_map((3, 4), 0.2) == 0.2)


def test_spectral_residual_finds_the_odd_blob_and_motion():
    rng = np.random.default_rng(0)
    img = 0.5 + 0.02 * rng.standard_normal((96, 128))
    img[60:70, 90:100] = 1.0  # a small bright patch on a flat background
    sal = B.spectral_residual(img)
    ys, xs = np.unravel_index(sal.argmax(), sal.shape)
    assert sal.shape == (48, 64) and abs(ys - 32) <= 6 and abs(xs - 47) <= 6
    prev = img.copy()
    moved = img.copy()
    moved[10:20, 10:20] = 0.0  # something changed top-left
    mot = B.flicker(moved, prev)
    assert mot.max() == pytest.approx(1.0) and mot[:16, :16].mean() > 5 * mot[24:, 32:].mean()
    assert not B.flicker(img, img).any()
    both = B.spectral_residual_motion(moved, prev, (96, 128))
    assert both.shape == (96, 128) and both.min() >= 0 and both.max() == pytest.approx(1.0)


@pytest.mark.parametrize("kind", B.KINDS)
def test_every_baseline_is_consumed_by_the_evaluation(world, kind):
    res = E.evaluate_db(world.root, "AVAD", B.BaselinePredictions(kind, world.root, "AVAD"), (1, 2))
    df = res.per_video
    assert df.frames_scored.tolist() == [5, 4] and (df.status == "ok").all()
    if kind == "constant":
        assert df[["SIM", "sAUC", "CC", "NSS"]].isna().all().all() and df.AUC_J.notna().all()
    else:
        assert df[["AUC_J", "SIM", "CC", "NSS"]].notna().all().all()
    if kind == "ground_truth":  # the upper bound beats the centre prior on every video and metric
        src = B.BaselinePredictions("centre", world.root, "AVAD")
        centre = E.evaluate_db(world.root, "AVAD", src, (1, 2))
        for m in ("AUC_J", "SIM", "CC", "NSS"):
            assert (df[m].values > centre.per_video[m].values).all(), m
        assert (df.CC > 0.6).all() and (df.AUC_J > 0.8).all()


def test_video_maps_array_matches_source(world):
    arr = B.video_maps("centre", world.root, "AVAD", "b1", 5)
    assert arr.shape == (5, 24, 40) and arr.dtype == np.float32
    a = E.evaluate_db(world.root, "AVAD", {"b1": arr}, (1,)).per_video
    b = E.evaluate_db(world.root, "AVAD", B.BaselinePredictions("centre", world.root, "AVAD"), (1,)).per_video
    assert a.CC.iloc[0] == pytest.approx(b.CC.iloc[0], abs=1e-6)
    with pytest.raises(ValueError, match="unknown baseline"):
        B.BaselinePredictions("itti", world.root, "AVAD")


# --- quoted numbers -----------------------------------------------------------------------------------------


@pytest.mark.skipif(not PAPER_TXT.exists(), reason="paper text not present")
def test_table4_transcription_matches_paper_text():
    text = PAPER_TXT.read_text()
    blocks = {0: ("AVAD", "DIEM", "SumMe"), 1: ("ETMD", "Coutrot1", "Coutrot2")}
    num = r"(\d\.\d{3})"
    found = {}
    for method in P.TABLE4_METHODS:
        label = "OUR(STANet)" if method == "STANet" else method
        rows = re.findall(re.escape(label) + r"(?: \[\d+\])?\s+" + r"\s+".join([num] * 15), text)
        assert len(rows) == 2, (method, len(rows))
        for b, row in enumerate(rows):
            for d_i, d in enumerate(blocks[b]):
                found[(method, d)] = tuple(float(x) for x in row[5 * d_i : 5 * d_i + 5])
    pub = P.table4_published()
    for (method, d), vals in found.items():
        assert tuple(pub.loc[method, d].astype(float)) == vals, (method, d)


@pytest.mark.skipif(not PAPER_TXT.exists(), reason="paper text not present")
def test_ablation_tables_match_paper_text():
    text = PAPER_TXT.read_text()
    for table, data in P.ABLATIONS.items():
        for (_, variant), vals in data.items():
            assert " ".join(f"{v:.3f}" for v in vals) in re.sub(r"\s+", " ", text), (table, variant)
    t1 = P.ablation_published(1)
    assert t1.loc[("fine", "SCAM_sel")].tolist() == list(P._T4["STANet"]["AVAD"])  # the STANet row
    with pytest.raises(ValueError):
        P.ablation_published(4)


# --- tables -------------------------------------------------------------------------------------------------


def _fake_results(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for db, n in (("AVAD", 3), ("ETMD_av", 2), ("NewDB", 2)):
        for k in range(n):
            rows.append({"db": db, "split": 1 + k % 2, "video": f"v{k}", "frames_scored": 10,
                         **{m: rng.random() for m in ("AUC_J", "SIM", "sAUC", "CC", "NSS")},
                         "nframes": 10, "frames_with_nan": 0, "status": "ok"})
    rows.append({**rows[0], "video": "gone", "status": "missing: no predictions", "AUC_J": float("nan")})
    return pd.DataFrame(rows)


def test_table4_layout_and_labels(tmp_path):
    res = _fake_results()
    df = T.table4({"centre bias": res, "ours": [res[res.db == "AVAD"], res[res.db != "AVAD"]]})
    assert list(df.columns.get_level_values(1)[:5]) == ["AUC-J", "SIM", "s-AUC", "CC", "NSS"]
    datasets = list(dict.fromkeys(df.columns.get_level_values(0)))
    assert datasets == ["AVAD", "DIEM", "SumMe", "ETMD", "Coutrot1", "Coutrot2", "NewDB"]
    ours = df.loc[T.OURS_LABEL]
    ok = res[(res.db == "AVAD") & (res.status == "ok")]
    got = ours.loc["centre bias", ("AVAD", "AUC-J")]
    assert got == pytest.approx(ok.AUC_J.mean())  # the missing row is left out
    assert math.isnan(ours.loc["centre bias", ("DIEM", "CC")])  # not measured
    quoted = df.loc[f"{P.QUOTED_LABEL} (Table 4)"]
    assert quoted.loc["STANet", ("ETMD", "NSS")] == 2.176 and len(quoted) == 15
    paths = T.write_table4({"centre bias": res}, tmp_path / "t4")
    md, tex, csv = (paths[k].read_text() for k in ("md", "tex", "csv"))
    assert "quoted from the paper (Table 4)" in md and "not measured here" in md and "Coutrot2" in md
    assert md.count("| source | method |") == 3  # three blocks of datasets as in the paper (7 -> 3+3+1)
    assert r"\begin{tabular}" in tex and r"\multicolumn{5}{c}{AVAD}" in tex and "s-AUC" in tex
    back = pd.read_csv(paths["csv"], index_col=[0, 1])
    assert back.shape == (16, 35) and "AVAD AUC-J" in back.columns
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # atomic writes left no temp files


def test_ablation_table_generic(tmp_path):
    ours = pd.DataFrame({"AUC_J": [0.8, 0.85], "SIM": [0.2, 0.3], "sAUC": [0.55, 0.56], "CC": [0.3, 0.4],
                         "NSS": [1.2, 1.9]}, index=pd.MultiIndex.from_tuples([("fine", "SCAM_avg"),
                                                                              ("fine", "SCAM_sel")]))
    df = T.ablation_table(ours, published=1)
    assert list(df.columns) == ["AUC-J", "SIM", "s-AUC", "CC", "NSS"]
    assert df.loc[(T.OURS_LABEL, "fine / SCAM_sel"), "NSS"] == 1.9
    assert df.loc[(f"{P.QUOTED_LABEL} (Table 1)", "coarse / SCAM_avg"), "AUC-J"] == 0.786
    paths = T.write_table(df, tmp_path / "t1", caption="Table 1 analogue")
    assert "quoted from the paper" in paths["md"].read_text()
    assert "Table 1 analogue" in paths["tex"].read_text()
    plain = T.write_table(T.ablation_table(ours), tmp_path / "t1b")
    assert "quoted" not in plain["md"].read_text()
    with pytest.raises(ValueError, match="lacks metric columns"):
        T.ablation_table(ours.drop(columns="NSS"))
