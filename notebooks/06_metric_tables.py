# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Metric tables
#
# The analogues of the paper's Tables 1-4 (§4.3-4.4) on the **synthetic** test databases, scored with the STAViS
# protocol (`stanet_lib.eval.protocol`). Every measured number below is read from this run's artefacts (notebooks
# 03-05); the paper's numbers are printed beside them and labelled *quoted from the paper*. The paper's Tables
# 1-3 are on AVAD and its Table 4 on the six real test sets: the synthetic world shows that the mechanics work
# and which orderings come out of this pipeline, not how the method does on real data.

# %%
from IPython.display import Markdown

from stanet_lib.config import check_parameters
from stanet_lib.report import figures, findings, results, targets
from stanet_lib.stages import setup

# %% tags=["parameters"]
PROFILE: str = "demo"  # smoke | demo | paper
SEED: int = 0  # unused here (no training); kept so one parameter set serves every stage
DATA_ROOT: str = ""  # root of synthetic/, cache/, runs/ (empty: the project data folder)
AVE_ROOT: str = ""  # unused here
STAVIS_ROOT: str = ""  # unused here (the cache manifest records it)
REPORTS_DIR: str = ""  # figures and tables; empty: reports/<profile>/
OVERRIDES: str = ""  # space-separated config overrides (see stanet_lib.config.parse_overrides)
SMOKE: bool = False  # tiny run (tests)

# %%
check_parameters(globals())  # an unknown or mistyped parameter stops here
cfg, world, reports = setup(PROFILE, SMOKE, OVERRIDES, DATA_ROOT, REPORTS_DIR)
sta_means, sta_per_video = results.sta_results(world)
tables = results.write_all(world, reports, sta_per_video, sta_means)
print("tables written to", reports / "tables")

# %% [markdown]
# ## Table 1 analogue: selective (SCAM_sel, Eq. 2-3) versus average fusion (SCAM_avg)

# %%
tables["table1"].round(3)

# %% [markdown]
# ## Table 2 analogue: the CAM of each source versus SCAM, coarse (CO.) and fine (FI.)

# %%
tables["table2"].round(3)

# %% [markdown]
# ## Table 3 analogue: without and with the audio switch
# Pseudo-fixations from SA nets trained with the gate always open versus with the switch, and the STA net trained
# without versus with it.

# %%
tables["table3"].round(3)

# %% [markdown]
# ## Table 4 analogue: the STA net beside the pseudo-fixations it learned from and the baselines

# %%
tables["table4"].round(3)

# %%
figures.table4_bars(tables["table4"], path=reports / "figures" / "06_table4.png");

# %% [markdown]
# ## The paper's Table 4 (quoted, six real test sets; not measured here)

# %%
tables["table4_paper"].round(3)

# %% [markdown]
# ## Localisation table (`tables/localisation.csv`): against the synthetic world's truth
# `pointing`: the share of test frames whose map maximum lies inside the sounding object's box (the pointing game;
# chance = `box_area`, the box's share of the frame), over the `frames` where the tagged object sounds (a video with
# unrelated audio has no sounding object: in the demo its tagged object is played under a dubbed soundtrack and the observers
# follow it, with `synth.unrelated_played` off they split between the look-alikes); `cc`: the STAViS-protocol CC of the same map (higher is better
# for both). The ground-truth map is the ceiling; the centre bias is what a map that ignores the video gets.

# %%
tables["localisation"].round(3)

# %% [markdown]
# ## Selective vs average fusion, frame by frame (`tables/fusion_weights.csv`)
# Eq. 2 weighs each CAM by its source's tag confidence; after normalisation only the weights' ratios within a frame
# matter, so SCAM departs from SCAM_avg only where the sources disagree in confidence. `dropped`: frames no source
# classifies as the tag (not scored); `near_equal`: frames whose weights are within 10 % of each other (SCAM is then
# nearly the average); `ranked`: sounding frames whose weights differ, where `top_pointing` / `bottom_pointing` is the
# pointing of the most / least weighted source's CAM (Eq. 2 can only help where the first is above the second).

# %%
tables["fusion_weights"].round(3)

# %% [markdown]
# ## The demo's targets (`tables/targets.csv`)
# Each target the demo is built to show, from the tables above: the value, what it is held against (a threshold or
# the compared map), the margin and whether it holds; judged on the unrounded numbers.

# %%
Markdown(targets.targets_summary(tables["targets"]))

# %%
tables["targets"].round(4)

# %% [markdown]
# ## What this shows
# Computed from this run's artefacts: chance levels, the centre bias, the direction of the metrics, what was scored.

# %%
Markdown(findings.stage06(world))
