"""Looking at fixations: image rendering (:mod:`~stanet_lib.viz.render`: overlays, boxes, points, grids), the map
layers of a run (:mod:`~stanet_lib.viz.layers`) and the ipywidgets viewer of notebook 07
(:mod:`~stanet_lib.viz.viewer`).

The package re-exports the rendering functions only: the layers and the viewer read a run's artefacts, and
importing :mod:`stanet_lib.viz.render` for a figure must not import them.
"""

from .render import LAYERS, compose_layers, frame_grid, overlay, save_png, side_by_side

__all__ = ["LAYERS", "overlay", "compose_layers", "side_by_side", "frame_grid", "save_png"]
