"""stanet_lib.report.figures: titles, colour bars on map figures, chance lines on score plots."""

import numpy as np
import pandas as pd

from stanet_lib.report import figures


def _dashed_at(ax) -> list[float]:
    return [float(ln.get_ydata()[0]) for ln in ax.lines if ln.get_linestyle() == "--"]


def test_map_samples_has_a_title_and_a_colour_bar(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    layers = {"CAM_S": rng.random((2, 4, 4)), "SCAM": rng.random((2, 4, 4))}
    fig = figures.map_samples(frames, layers, boxes=np.array([[2, 9, 3, 12]] * 2), titles=["a #1", "a #2"],
                              path=tmp_path / "maps.png")
    assert fig._suptitle.get_text() == "Maps on sample test frames"
    bars = [ax for ax in fig.axes if "min .. max" in ax.get_ylabel()]
    assert len(bars) == 1 and [t.get_text() for t in bars[0].get_yticklabels()] == ["low", "high"]
    assert (tmp_path / "maps.png").stat().st_size > 1000


def test_training_curves_title_and_chance(tmp_path):
    csv = tmp_path / "log.csv"
    pd.DataFrame({"epoch": [1, 2], "val_acc": [0.2, 0.4]}).to_csv(csv, index=False)
    fig = figures.training_curves({"S": csv}, chance=0.25, title="validation accuracy")
    ax = fig.axes[0]
    assert ax.get_title() == "validation accuracy" and _dashed_at(ax) == [0.25]
    assert "chance (0.25)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert figures.training_curves({"S": csv}).axes[0].get_title() == "val_acc per epoch"


def test_score_bars_draw_chance_where_it_is_defined():
    df = pd.DataFrame({"label": ["STA", "centre"], "AUC_J": [0.8, 0.7], "SIM": [0.3, 0.2], "CC": [0.3, 0.2]})
    fig = figures.table_bars(df, ["AUC_J", "SIM", "CC"], by="label")
    assert [_dashed_at(ax) for ax in fig.axes] == [[0.5], [], [0.0]]  # SIM has no fixed chance level
    assert fig._suptitle.get_text()
    cols = pd.MultiIndex.from_product([["A"], ["AUC-J", "CC", "NSS"]])
    table = pd.DataFrame([[0.8, 0.3, 1.2], [0.5, 0.0, 0.0]], columns=cols,
                         index=pd.MultiIndex.from_tuples([("measured", "STA"), ("measured", "constant")]))
    fig4 = figures.table4_bars(table)
    assert [_dashed_at(ax) for ax in fig4.axes] == [[0.5], [0.0], [0.0]] and "chance" in fig4._suptitle.get_text()


def test_sample_rows_are_middle_frames_of_distinct_clips():
    """The example frames of notebooks 03-05: the middle frame of each picked clip, never a clip's first frame
    (there the window has no t-1 and the simulated observers look at the screen centre)."""
    from types import SimpleNamespace

    from stanet_lib.report import stage_figures

    starts = [0, 10, 30, 40, 70]  # clips of 10, 20, 10, 30 and 5 frames
    ends = [10, 30, 40, 70, 75]
    clips = [(f"V{k}", np.arange(a, b)) for k, (a, b) in enumerate(zip(starts, ends))]
    world = SimpleNamespace(sets={"test:X": SimpleNamespace(clips=lambda: clips)})
    rows = stage_figures.sample_rows(world, "test:X", n=3, seed=1)
    middles = {a + (b - a) // 2 for a, b in zip(starts, ends)}
    assert len(rows) == 3 and len(set(rows.tolist())) == 3
    assert set(rows.tolist()) <= middles
    assert not set(rows.tolist()) & set(starts)
    assert list(rows) == sorted(rows)
