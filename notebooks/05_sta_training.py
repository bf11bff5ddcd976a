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
# # 05 · STA fixation prediction net
#
# The last network of STANet (paper §3.8, Fig. 6-D). Frames t-1, t, t+1 go through **one shared VGG16 encoder**;
# the spatial stream S of frame t is fused with the audio stream, SA = ReLU(σ(φ(A)) ⊙ S + S) (the audio switch
# p_switch of notebook 02 gates it), and with the temporal stream, ST = ReLU(σ(T) ⊙ S + S); then
# **Eq. 5**: STA = ReLU(Conv1×1(Concat(SA, ST))), and a decoder of three transposed convolutions gives one map.
# Where p_switch enters is `model.sta_switch_site`: "gate" multiplies the attention, p·σ(φ(A, S)) (Eq. 4 as the
# released SA net codes it); "audio" (the demo's) multiplies the audio vector, σ(φ(p·A, S)) (the released STA
# net's switch·Aup), so a closed switch leaves S's own attention rather than no audio stream.
# It is trained with binary cross entropy (**Eq. 6**) against the **pseudo-fixations** of notebook 04 only: no
# eye-tracking data and no category tag are used, so it predicts fixations for unseen videos.
#
# Two bugs of the released training code are not reproduced (BCE-with-logits on an already sigmoided output,
# and the target taken from frame t+1); see `stanet_lib/train/losses.py`. The test databases' ground truth is used only
# for scoring, with the STAViS protocol.

# %%
from IPython.display import Markdown

from stanet_lib.config import check_parameters
from stanet_lib.report import figures, findings, stage_figures
from stanet_lib.stages import setup, sta

# %% tags=["parameters"]
PROFILE: str = "demo"  # smoke | demo | paper
SEED: int = 0  # seed of the STA nets initialisation and batch order
DATA_ROOT: str = ""  # root of synthetic/, cache/, runs/ (empty: the project data folder)
AVE_ROOT: str = ""  # real AVE root (read by notebook 01, recorded in the cache)
STAVIS_ROOT: str = ""  # real STAViS data root (read by notebook 01, recorded in the cache)
REPORTS_DIR: str = ""  # figures and tables; empty: reports/<profile>/
OVERRIDES: str = ""  # space-separated config overrides (see stanet_lib.config.parse_overrides)
SMOKE: bool = False  # tiny run (tests)

# %%
check_parameters(globals())  # an unknown or mistyped parameter stops here
cfg, world, reports = setup(PROFILE, SMOKE, OVERRIDES, DATA_ROOT, REPORTS_DIR)
fig_dir = reports / "figures"
print(f"profile {cfg.profile}: STA input {cfg.model.sta_size} px, width x{cfg.model.width}, decoder "
      f"{cfg.model.sta_decoder}, batch {cfg.train.batch_sta}, lr {cfg.train.lr}, "
      f"{sta.sta_train_config(cfg).epochs} epochs")
print(world.summary(), "; test data:", world.stavis_root)

# %% [markdown]
# ## Train and predict
# The net with the audio switch (`nets/sta/`) and, for the Table 3 analogue, a second net trained and run without
# it (`nets/sta_noswitch/`). Frames whose pseudo-fixation stage 04 marked invalid are left out; the epoch with the
# highest validation CC against the pseudo-fixations is kept (`stages.sta.SELECT_BY`: the validation BCE rose while
# the CC climbed, so selecting by BCE kept the first epoch; the curves below show both). Every test frame then gets a map, σ(logits) at the STA input size, kept as arrays
# (`maps/sta_<set>.npz`) and written in the STAViS results layout (`predictions/<variant>/split<k>_results/...`)
# that the published MATLAB evaluator reads.

# %%
tables = sta.stage_sta(world, seed=SEED)
tables["training"]

# %%
stage_figures.sta_training_curves(world, path=fig_dir / "05_training.png");

# %% [markdown]
# ## Scores on the test databases (STAViS protocol)
# Means over each database's test videos (all folds), computed in this run from the prediction arrays. Variants:
# `sta` feeds p_switch; `sta_gate_open` is the same net with the switch forced open (p = 1); `sta_noswitch` was
# trained and run without the switch (the paper's Table 3 compares with and without the switch on AVAD).

# %%
metrics = tables["metrics"].set_index(["db", "model"])[["AUC_J", "SIM", "sAUC", "CC", "NSS", "videos"]]
metrics.round(3)

# %%
bars = tables["metrics"].assign(label=tables["metrics"]["db"] + " · " + tables["metrics"]["model"])
figures.table_bars(bars, ["AUC_J", "SIM", "sAUC", "CC", "NSS"], by="label",
                   title="STA net on the synthetic test databases", path=fig_dir / "05_metrics.png");

# %% [markdown]
# ## What the net predicts
# Test frames with the stage-04 pseudo-fixation (computed with the clip's tag), the STA prediction (no tag), and
# the simulated eye tracking it is scored against.

# %%
stage_figures.sta_prediction_figures(world, fig_dir, n=3);

# %% [markdown]
# ## What this shows
# Computed from this run's artefacts: chance levels, the centre bias, the direction of the metrics, what was scored.

# %%
Markdown(findings.stage05(world))
