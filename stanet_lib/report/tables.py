"""Metric tables in the paper's layout, written as CSV, Markdown and LaTeX (atomic writes).

- :func:`table4`: rows = methods, columns = dataset x metric (AUC-J, SIM, s-AUC, CC, NSS), our measured rows
  first, then the paper's Table 4 rows labelled "quoted from the paper" (:mod:`stanet_lib.report.published`).
- :func:`ablation_table`: any DataFrame with rows = variants and the five metric columns (Tables 1-3), with
  the paper's rows beside ours.
- :func:`write_table` / :func:`write_table4`: the three renderings of a table under one file stem.

Per-video results come from :func:`stanet_lib.eval.protocol.evaluate_db` (``EvalResult.per_video``) and are
reduced with :func:`stanet_lib.eval.protocol.dataset_means` (the STAViS ``compute_all_<db>.m`` averaging).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..artefacts import write_text
from ..eval.metrics import PAPER_LABELS, TABLE_METRICS
from ..eval.protocol import dataset_means
from .published import (
    DATASET_NAMES,
    PAPER,
    QUOTED_LABEL,
    TABLE4_DATASETS,
    ablation_published,
    table4_published,
)

OURS_LABEL = "measured (this package)"
LABELS = [PAPER_LABELS[m] for m in TABLE_METRICS]


def method_means(per_video: pd.DataFrame) -> pd.DataFrame:
    """Dataset means of one method: rows = databases (paper names where known), columns = AUC-J ... NSS."""
    rows = {}
    for db, g in per_video.groupby("db", sort=False):
        rows[DATASET_NAMES.get(db, db)] = dataset_means(g).rename(PAPER_LABELS)
    return pd.DataFrame(rows).T[LABELS]


def table4(results: Mapping[str, pd.DataFrame | Iterable[pd.DataFrame]], include_published: bool = True,
           datasets: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Table 4 layout: index (source, method), columns (dataset, metric).

    Args:
        results: method -> per-video DataFrame(s) (several databases may be concatenated or given as a list).
        include_published: append the paper's rows, with source :data:`published.QUOTED_LABEL`.
        datasets: column blocks; default = the paper's six in order, then any other measured database.
    """
    ours = {}
    for method, frames in results.items():
        df = frames if isinstance(frames, pd.DataFrame) else pd.concat(list(frames), ignore_index=True)
        ours[method] = method_means(df)
    measured = [d for m in ours.values() for d in m.index]
    if datasets is None:
        extra = [d for d in dict.fromkeys(measured) if d not in TABLE4_DATASETS]
        datasets = tuple(d for d in TABLE4_DATASETS if d in measured or include_published) + tuple(extra)
    cols = pd.MultiIndex.from_tuples([(d, lab) for d in datasets for lab in LABELS],
                                     names=["dataset", "metric"])
    rows, index = [], []
    for method, means in ours.items():
        rows.append([means.loc[d, lab] if d in means.index else math.nan for d, lab in cols])
        index.append((OURS_LABEL, method))
    if include_published:
        pub = table4_published()
        for method in pub.index:
            rows.append([pub.loc[method, (d, lab)] if d in TABLE4_DATASETS else math.nan for d, lab in cols])
            index.append((f"{QUOTED_LABEL} (Table 4)", method))
    index = pd.MultiIndex.from_tuples(index, names=["source", "method"])
    return pd.DataFrame(rows, index=index, columns=cols)


def ablation_table(ours: pd.DataFrame, published: int | pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows = variants (ours first), columns AUC-J, SIM, s-AUC, CC, NSS; ``published`` = 1, 2, 3 (the paper's
    Table 1-3) or a DataFrame of quoted rows. Metric columns may use result names (``AUC_J``) or labels."""
    def norm(df: pd.DataFrame) -> pd.DataFrame:
        df = df.rename(columns=PAPER_LABELS)
        missing = [lab for lab in LABELS if lab not in df.columns]
        if missing:
            raise ValueError(f"ablation table lacks metric columns {missing} (has {list(df.columns)})")
        out = df[LABELS].copy()
        out.index = [" / ".join(str(p) for p in i if str(p)) if isinstance(i, tuple) else str(i)
                     for i in out.index]
        return out

    parts = [norm(ours)]
    keys = [OURS_LABEL]
    if published is not None:
        pub = ablation_published(published) if isinstance(published, int) else published
        parts.append(norm(pub))
        keys.append(f"{QUOTED_LABEL} (Table {published})" if isinstance(published, int) else QUOTED_LABEL)
    return pd.concat(parts, keys=keys, names=["source", "variant"])


# --- rendering ----------------------------------------------------------------------------------------------


def _fmt(v: object, digits: int = 3) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)  # strings, booleans, whole numbers


def flat_columns(df: pd.DataFrame) -> list[str]:
    """Column labels as the CSVs write them: a (dataset, metric) MultiIndex joined by a space."""
    if isinstance(df.columns, pd.MultiIndex):
        return [" ".join(str(p) for p in c if str(p)) for c in df.columns]
    return [str(c) for c in df.columns]


def _row_labels(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    names = [n or "" for n in df.index.names]
    vals = [list(i) if isinstance(i, tuple) else [i] for i in df.index]
    return names, [[str(v) for v in r] for r in vals]


def to_markdown(df: pd.DataFrame, caption: str = "", digits: int = 3) -> str:
    """A GitHub Markdown table (index levels as leading columns, NaN as '–'; a whole-number column as whole numbers:
    rows are read with each column's own type, not upcast to one per row)."""
    names, labels = _row_labels(df)
    header = names + flat_columns(df)
    lines = [f"**{caption}**", ""] if caption else []
    rule = "|" + "|".join(["---"] * len(names) + ["---:"] * df.shape[1]) + "|"
    lines += ["| " + " | ".join(header) + " |", rule]
    for lab, row in zip(labels, df.itertuples(index=False, name=None), strict=True):
        lines.append("| " + " | ".join(lab + [_fmt(v, digits) for v in row]) + " |")
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("–", "--")):
        s = s.replace(a, b)
    return s


def to_latex(df: pd.DataFrame, caption: str = "", digits: int = 3) -> str:
    """A booktabs ``tabular`` (two header rows for (dataset, metric) columns), NaN as '--'."""
    names, labels = _row_labels(df)
    n_idx = len(names)
    out = [r"\begin{table}[t]", r"\centering", r"\small"]
    if caption:
        out.append(r"\caption{" + _tex(caption) + "}")
    out.append(r"\begin{tabular}{" + "l" * n_idx + "r" * df.shape[1] + "}")
    out.append(r"\toprule")
    if isinstance(df.columns, pd.MultiIndex):
        top = []
        for key in dict.fromkeys(c[0] for c in df.columns):
            span = sum(1 for c in df.columns if c[0] == key)
            top.append(r"\multicolumn{" + str(span) + "}{c}{" + _tex(str(key)) + "}" if key else " " * span)
        out.append(" & ".join([""] * n_idx + top) + r" \\")
        sub = [str(c[-1]) for c in df.columns]
    else:
        sub = [str(c) for c in df.columns]
    out.append(" & ".join([_tex(n) for n in names] + [_tex(s) for s in sub]) + r" \\")
    out.append(r"\midrule")
    prev = None
    for lab, row in zip(labels, df.itertuples(index=False, name=None), strict=True):
        if prev is not None and n_idx > 1 and lab[0] != prev:
            out.append(r"\midrule")
        shown = ["" if (n_idx > 1 and k == 0 and lab[0] == prev) else _tex(v) for k, v in enumerate(lab)]
        prev = lab[0]
        out.append(" & ".join(shown + [_tex(_fmt(v, digits)) for v in row]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def write_table(df: pd.DataFrame, stem: str | Path, caption: str = "", digits: int = 3) -> dict[str, Path]:
    """Write ``<stem>.csv``, ``<stem>.md`` and ``<stem>.tex`` atomically; returns the three paths."""
    stem = Path(stem)
    csv = df.copy()
    if isinstance(csv.columns, pd.MultiIndex):
        csv.columns = flat_columns(csv)
    paths = {"csv": stem.with_suffix(".csv"), "md": stem.with_suffix(".md"), "tex": stem.with_suffix(".tex")}
    write_text(paths["csv"], csv.to_csv(float_format=f"%.{digits}f"))
    quoted = any(QUOTED_LABEL in str(i) for i in df.index)
    note = f"\nRows labelled '{QUOTED_LABEL}' are copied from {PAPER}, not measured here.\n" if quoted else ""
    write_text(paths["md"], to_markdown(df, caption, digits) + note)
    write_text(paths["tex"], (f"% {note.strip()}\n" if quoted else "") + to_latex(df, caption, digits))
    return paths


def write_table4(results: Mapping[str, pd.DataFrame | Iterable[pd.DataFrame]], stem: str | Path,
                 include_published: bool = True, block: int = 3) -> dict[str, Path]:
    """:func:`table4` written three ways; Markdown/LaTeX split into blocks of ``block`` datasets as in the
    paper, the CSV keeps every column."""
    df = table4(results, include_published)
    stem = Path(stem)
    datasets = list(dict.fromkeys(df.columns.get_level_values(0)))
    blocks = [datasets[i : i + block] for i in range(0, len(datasets), block)]
    caption = "Table 4 layout: AUC-J, SIM, s-AUC, CC, NSS per dataset"
    md = "".join(to_markdown(df[b], f"{caption} ({', '.join(b)})") + "\n" for b in blocks)
    tex = "".join(to_latex(df[b], f"{caption} ({', '.join(b)})") for b in blocks)
    csv = df.copy()
    csv.columns = flat_columns(csv)
    note = f"Rows labelled '{QUOTED_LABEL} (Table 4)' are copied from {PAPER}, not measured here."
    paths = {"csv": stem.with_suffix(".csv"), "md": stem.with_suffix(".md"), "tex": stem.with_suffix(".tex")}
    write_text(paths["csv"], csv.to_csv(float_format="%.3f"))
    write_text(paths["md"], md + note + "\n")
    write_text(paths["tex"], f"% {note}\n" + tex)
    return paths
