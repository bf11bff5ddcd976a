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
# # 02 · Coarse classification nets and the audio switch
#
# Paper §3.4, §3.7 and Fig. 6 A-C. Three classification nets see the same frames through different sources:
# **S** (the frame), **ST** (frames t-1, t, t+1 through one shared VGG16 encoder and a 3D convolution over time,
# fused as ReLU(σ(T)⊙S + S)) and **SA** (the frame and its 1 s of audio, fused as ReLU(p·σ(Att(A,S))⊙S + S),
# Eq. 4, where p is the **audio switch**). The switch labels come from an audio tagger (paper: VGGSound;
# here the default pluggable tagger, an audio-only classifier with out-of-fold predictions): label 1 when the
# tagger's top-1 class is the video's tag. The switch net has the SA net's structure with two classes.
# The SA net is also trained without the switch (gate always open) for the Table 3 analogue.
# With `train.branch_init="S"` (the demo's; the paper does not say) the ST and SA nets start from the trained S net
# (encoder, head, classifier; the temporal and audio gates from their own initialisation), so motion and audio
# refine what S learnt rather than learn the category anew. The demo's coarse ST and SA nets fuse without the last
# ReLU, (1 + gate)⊙S (`model.fusion_relu_off="coarse"`): on the frozen trunk's signed features the ReLU would zero
# what the S net's head was trained on, so they would not start from the S net (on the paper's VGG16 features, outputs
# of a ReLU, the two forms are the same map).

# %%
from IPython.display import Markdown

from stanet_lib.config import check_parameters
from stanet_lib.report import figures, findings
from stanet_lib.stages import classifiers, setup

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

# %% [markdown]
# ## Train: tagger, switch, S, ST, SA (the coarse size of the profile; the paper's is 256 px, batch 20)

# %%
tables = classifiers.stage_classifiers(world, seed=SEED)

# %% [markdown]
# ## The audio switch against the generator's truth
# `labels_vs_truth_acc`: the tagger-derived labels against "the clip's audio matches its tag";
# `switch_vs_truth_acc`: the switch net's decision (p > 0.5) against the same truth (chance: the larger of
# `matching_audio_rate` and its complement: a switch that is always open scores `matching_audio_rate`);
# `switch_auc`: how well p_switch separates matching from unrelated audio (0.5 = not at all, 1 = perfectly; empty
# where a set has one kind of audio only). Both are of p_switch as the SA and STA nets get it: under
# `model.switch_smoothing_s` (the demo: 0.5 s) each frame's p is the mean over its video's frames within that many
# seconds, and the `*_per_frame` columns score the switch frame by frame, before the averaging.

# %%
tables["switch"].round(3)

# %% [markdown]
# ## Classification accuracy of the coarse nets (best epoch on the validation split)

# %%
tables["accuracy"].round(3)

# %%
figures.training_curves({n: world.net_dir(f"coarse_{n}") / "log.csv" for n in ("S", "ST", "SA", "SA_noswitch")},
                        chance=1 / world.num_classes, title="Coarse nets: validation accuracy of the tag per epoch",
                        path=fig_dir / "02_val_acc.png");

# %% [markdown]
# ## What this shows
# Computed from this run's artefacts: chance levels, the centre bias, the direction of the metrics, what was scored.

# %%
Markdown(findings.stage02(world))
