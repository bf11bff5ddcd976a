"""The STAViS evaluation protocol in Python (``reference/evaluation_protocol_and_datasets.md`` §1.2): the MIT
metrics with MATLAB conventions (:mod:`~stanet_lib.eval.metrics`), MATLAB's imresize and the map post-processing
(:mod:`~stanet_lib.eval.matlab`), the per-video pipeline and the results layout (:mod:`~stanet_lib.eval.protocol`,
``evaluate``), and the baselines (:mod:`~stanet_lib.eval.baselines`).

It depends on the data readers only, so stage 05 and the map tables of stages 03-04 can score what they write.
"""

from .baselines import BaselinePredictions
from .protocol import EvalOptions, evaluate_db, write_prediction_maps

__all__ = ["EvalOptions", "evaluate_db", "write_prediction_maps", "BaselinePredictions"]
