"""Reports: the analogues of the paper's Tables 1-4 from a run's artefacts (:mod:`~stanet_lib.report.results`),
table formatting (:mod:`~stanet_lib.report.tables`), the published numbers (:mod:`~stanet_lib.report.published`)
and every stage's figures (:mod:`~stanet_lib.report.figures`).
"""

from .published import table4_published
from .results import write_all
from .tables import to_markdown, write_table

__all__ = ["write_all", "write_table", "to_markdown", "table4_published"]
