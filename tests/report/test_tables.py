"""stanet_lib.report.tables: Table 4 and the ablation tables (layout, labels, quoted rows, Markdown / LaTeX / CSV)."""

import math

import numpy as np
import pandas as pd
import pytest

from stanet_lib.report import published as P
from stanet_lib.report import tables as T


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


def test_markdown_keeps_whole_number_columns_whole_beside_float_ones():
    df = pd.DataFrame({"name": ["a", "b"], "cases": [3, 12], "cc": [0.5, float("nan")], "holds": [True, False]})
    md = T.to_markdown(df.set_index("name"), digits=4)
    assert "| a | 3 | 0.5000 | True |" in md and "| b | 12 | – | False |" in md
