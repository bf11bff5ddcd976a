"""stanet_lib.stages.maps: the map artefacts (frames' identity kept, float16 maps, float32 vectors) and the
per-stage STAViS-protocol tables the session's smoke pipeline wrote."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from stanet_lib.stages.maps import load_maps, save_maps, video_frames, video_maps


def test_save_and_load_keep_identity_and_dtypes(tmp_path):
    meta = pd.DataFrame({"db": ["D", "D", "D"], "video": ["b", "a", "a"], "number": [1, 2, 1]})
    maps = torch.rand(3, 4, 4)
    maps[2] = 0.0  # an empty map: no prediction (Eq. 2 kept no source)
    path = save_maps(tmp_path / "m.npz", SimpleNamespace(meta=meta), {"SCAM": maps, "weights": torch.rand(3, 3),
                                                                      "boxes": torch.zeros(3, 4, dtype=torch.long)})
    m = load_maps(path)
    assert m["SCAM"].dtype == np.float16 and m["weights"].dtype == np.float32 and m["boxes"].dtype == np.int64
    assert m["video"].tolist() == ["b", "a", "a"] and m["number"].tolist() == [1, 2, 1] and m["db"].tolist() == ["D"] * 3
    per_video = video_maps(m, "SCAM", 8)  # resized to the canvas, ordered by number, the empty frame left out
    assert list(per_video) == ["b", "a"] and list(per_video["a"]) == [2] and per_video["b"][1].shape == (8, 8)
    frames = video_frames(SimpleNamespace(meta=meta), maps.numpy())
    assert sorted(frames["a"]) == [1, 2] and np.array_equal(frames["a"][2], maps[1].numpy())
    with pytest.raises(FileNotFoundError, match="run the stage"):
        load_maps(tmp_path / "missing.npz")


@pytest.mark.slow
def test_map_tables_cover_every_db_and_variant(smoke_world):
    world = smoke_world
    for stage in ("coarse", "fine"):
        df = pd.read_csv(world.runs / "tables" / f"{stage}_maps.csv")
        dbs = {s.split(":", 1)[1] for s in world.test_sets()}
        assert set(df["db"]) == dbs
        assert {"CAM_S", "CAM_ST", "CAM_SA", "SCAM", "SCAM_avg"} <= set(df["variant"])
        for col in ("AUC_J", "SIM", "sAUC", "CC", "NSS"):
            assert col in df
        ok = df.dropna(subset=["AUC_J"])
        assert ((ok["AUC_J"] >= 0) & (ok["AUC_J"] <= 1)).all()
