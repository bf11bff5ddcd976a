"""Reports: the analogues of the paper's Tables 1-4 from a run's artefacts (:mod:`~stanet_lib.report.results`),
table formatting (:mod:`~stanet_lib.report.tables`), the published numbers (:mod:`~stanet_lib.report.published`),
the figures (:mod:`~stanet_lib.report.figures`; those that read a run through a World:
:mod:`~stanet_lib.report.stage_figures`).

The package itself re-exports only the formatting and the published numbers, so that importing one figure module
does not import every stage (the pipeline reruns a stage when code it reaches changes).
"""

from .published import ablation_published, table4_published
from .tables import to_latex, to_markdown, write_table

__all__ = ["to_markdown", "to_latex", "write_table", "table4_published", "ablation_published"]
