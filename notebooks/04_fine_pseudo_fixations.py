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
# # 04 · Fine stage and pseudo-fixations
#
# Paper §3.6. Every frame is cropped to its coarse box (frames t-1 and t+1 with frame t's box), the crops are
# resized to the fine size, and **three new nets** (S, ST, SA; plus SA without the switch) are trained on them.
# Their tag-class CAMs are fused again (Eq. 2-3) and pasted back into the frame, zero outside the box: these
# are the **pseudo-fixations** that train the STA net (notebook 05). The released code's extra post-processing
# (5-frame smoothing, 3 × mean floor, p > 0.99 filter) is off unless `OVERRIDES` turns it on
# (`scam.temporal_smoothing=true scam.mean_floor=3 scam.hard_filter=true`). A frame whose fine SCAM is empty
# (no fine net has the tag on top, Eq. 3) has no map in the paper; the `demo` profile gives it the frame's coarse
# SCAM instead (`scam.empty_fallback=coarse`), so the fine SCAM and the pseudo-fixations differ on those frames.

# %%
from IPython.display import Markdown

from stanet_lib.config import check_parameters
from stanet_lib.report import figures, findings, localisation, stage_figures
from stanet_lib.stages import fine, maps, setup

# %% tags=["parameters"]
PROFILE: str = "demo"  # smoke | demo | paper
SEED: int = 0  # seed of the initialisation and data order of every net
DATA_ROOT: str = ""  # root of synthetic/, cache/, runs/ (empty: the project data folder)
AVE_ROOT: str = ""  # unused here (notebook 01 reads the data); kept so one parameter set serves every stage
STAVIS_ROOT: str = ""  # unused here (the cache manifest records it)
REPORTS_DIR: str = ""  # figures and tables; empty: reports/<profile>/
OVERRIDES: str = ""  # space-separated config overrides (see stanet_lib.config.parse_overrides)
SMOKE: bool = False  # tiny run (tests)

# %%
check_parameters(globals())  # an unknown or mistyped parameter stops here
cfg, world, reports = setup(PROFILE, SMOKE, OVERRIDES, DATA_ROOT, REPORTS_DIR)
fig_dir = reports / "figures"
print(world.summary())

# %%
tables = fine.stage_fine(world, seed=SEED)
tables["accuracy"].round(3)

# %%
tables["summary"].round(3)

# %% [markdown]
# ## Coarse versus fine on sample test frames

# %%
test_set = world.test_sets()[0]
rows = stage_figures.sample_rows(world, test_set, n=4, seed=SEED)
figures.map_samples(**stage_figures.coarse_and_fine_inputs(world, test_set, rows), path=fig_dir / "04_fine_maps.png");

# %% [markdown]
# ## Quality of the fine maps and the pseudo-fixations (STAViS protocol, synthetic test databases)
# Notebook 06 puts these beside the coarse ones as the analogues of the paper's Tables 1-3.

# %%
fine_metrics = maps.evaluate_maps(world, "fine", maps.MAP_VARIANTS + ("pseudo",))
fine_metrics.round(3)

# %% [markdown]
# ## Localisation against the synthetic world's truth
# `pointing`: the share of test frames whose map maximum lies inside the sounding object's box (the pointing game;
# chance = `box_area`, the box's share of the frame), over the `frames` where the tagged object sounds (a video with
# unrelated audio has no sounding object: in the demo its tagged object is played under a dubbed soundtrack and the observers
# follow it, with `synth.unrelated_played` off they split between the look-alikes); `cc`: the STAViS-protocol CC of the same map (higher is better
# for both). The ground-truth map is the ceiling; the centre bias is what a map that ignores the video gets.

# %%
localisation.localisation_table(world).round(3)

# %% [markdown]
# ## What this shows
# Computed from this run's artefacts: chance levels, the centre bias, the direction of the metrics, what was scored.

# %%
Markdown(findings.maps_stage(world, "fine"))
