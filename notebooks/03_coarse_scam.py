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
# # 03 · Coarse SCAM
#
# Paper §3.4-3.6, Eq. 1-3. For every frame: the CAM of the tag class from each coarse net (Eq. 1, ξ = per-frame
# min-max), the soft filter (Eq. 3: the tag-class probability if the tag is that net's top-1, else 0) and the
# selective fusion SCAM (Eq. 2, λ = 1e-4) beside the plain average SCAM_avg; then the coarse box: the SCAM
# resized to the frame, thresholded at 2 × its mean, one tight box (the whole frame when nothing passes).
# Test clips are scored with the STAViS protocol against the simulated fixations.

# %%
from IPython.display import Markdown

from stanet_lib.config import check_parameters
from stanet_lib.report import figures, findings, localisation, stage_figures
from stanet_lib.stages import coarse, maps, setup

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
summary = coarse.stage_coarse_scam(world)
summary.round(3)

# %% [markdown]
# ## Coarse maps on sample test frames (yellow: the box; magenta: fixations)

# %%
test_set = world.test_sets()[0]
rows = stage_figures.sample_rows(world, test_set, n=4, seed=SEED)
figures.map_samples(**stage_figures.figure_inputs(world, "coarse", test_set, rows,
                                           ("CAM_S", "CAM_ST", "CAM_SA", "SCAM_avg", "SCAM")),
                    path=fig_dir / "03_coarse_maps.png");

# %% [markdown]
# ## Quality of the coarse maps on the synthetic test databases (STAViS protocol)

# %%
coarse_metrics = maps.evaluate_maps(world, "coarse")
coarse_metrics.round(3)

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
Markdown(findings.maps_stage(world, "coarse"))
