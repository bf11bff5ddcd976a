"""Looking at fixations: image rendering (:mod:`~stanet_lib.viz.render`: overlays, boxes, points, grids), the map
layers of a run (:mod:`~stanet_lib.viz.layers`) and the ipywidgets viewer of notebook 07
(:mod:`~stanet_lib.viz.viewer`).
"""

from .layers import VideoLayers
from .render import LAYERS, compose_layers, overlay
from .viewer import FixationViewer

__all__ = ["LAYERS", "overlay", "compose_layers", "VideoLayers", "FixationViewer"]
