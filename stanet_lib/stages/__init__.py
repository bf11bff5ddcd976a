"""The work of the stage notebooks 02-05, as functions (the notebooks hold parameters, figures and tables only).

* :mod:`~stanet_lib.stages.world`: where a profile's data and artefacts live (:class:`World`), the notebooks' first cell;
* :mod:`~stanet_lib.stages.classifiers` (02): switch labels, the switch net, the coarse S / ST / SA nets;
* :mod:`~stanet_lib.stages.pseudo`: CAMs of a frame set, SCAM fusion (Eq. 2-3), boxes, post-processing;
* :mod:`~stanet_lib.stages.coarse` (03) and :mod:`~stanet_lib.stages.fine` (04): coarse to fine;
* :mod:`~stanet_lib.stages.sta` (05): the STA net on the pseudo-fixations, predictions, evaluation;
* :mod:`~stanet_lib.stages.maps`: the map artefacts and their evaluation;
* :mod:`~stanet_lib.stages.torchrun`: ``python -m stanet_lib train`` (one stage under torchrun).

The package re-exports :mod:`~stanet_lib.stages.world` only; a notebook imports the stage module it runs, so the
pipeline's change detection sees which stage code each notebook reaches.
"""

from .world import World, load_net, load_switch, open_world, setup

__all__ = ["World", "open_world", "setup", "load_net", "load_switch"]
