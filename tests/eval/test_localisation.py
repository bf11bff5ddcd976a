import numpy as np
import pytest

from stanet_lib.eval.localisation import map_peaks, pointing_hits, scale_boxes


def test_pointing_hits_the_box_of_the_maximum():
    maps = np.zeros((3, 10, 20))
    maps[0, 2, 3] = 1.0  # inside box 0
    maps[1, 8, 15] = 1.0  # outside box 1
    maps[2] = 0.5  # constant: points nowhere
    boxes = np.array([[1, 4, 2, 5], [0, 3, 0, 3], [0, 9, 0, 19]])
    assert pointing_hits(maps, boxes).tolist() == [True, False, False]
    r, c, valid = map_peaks(maps)
    assert (r[0], c[0], r[1], c[1]) == (2, 3, 8, 15) and valid.tolist() == [True, True, False]


def test_box_edges_are_inclusive_and_nan_maps_miss():
    maps = np.zeros((2, 5, 5))
    maps[0, 4, 4] = 1
    maps[1, 0, 0], maps[1, 1, 1] = np.nan, 1
    assert pointing_hits(maps, np.array([[4, 4, 4, 4], [0, 4, 0, 4]])).tolist() == [True, False]
    with pytest.raises(ValueError, match="boxes must be"):
        pointing_hits(maps, np.zeros((3, 4)))


def test_scale_boxes_keeps_every_touched_pixel():
    # a 54 x 96 video box rows 10-19, cols 40-59 on a 64 x 64 canvas
    b = scale_boxes(np.array([[10, 19, 40, 59]]), (54, 96), (64, 64))[0]
    assert b.tolist() == [int(np.floor(10 * 64 / 54)), int(np.ceil(20 * 64 / 54)) - 1, int(np.floor(40 * 64 / 96)),
                          int(np.ceil(60 * 64 / 96)) - 1]
    full = scale_boxes(np.array([[0, 53, 0, 95]]), (54, 96), (64, 64))[0]
    assert full.tolist() == [0, 63, 0, 63]
