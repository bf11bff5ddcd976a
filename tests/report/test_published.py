"""stanet_lib.report.published: the numbers quoted from the paper match its text (Tables 1-4)."""

import re

import pytest

from stanet_lib.paths import SHARED_DIR
from stanet_lib.report import published as P

PAPER_TXT = SHARED_DIR / "reference" / "paper_stanet_cvpr2021.txt"


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
    assert t1.loc[("fine", "SCAM_sel")].tolist() == P.table4_published().loc["STANet", "AVAD"].astype(float).tolist()  # the STANet row
    with pytest.raises(ValueError):
        P.ablation_published(4)
