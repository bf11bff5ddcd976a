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
# # 07 · Fixation viewer
#
# Fixation maps are judged by looking at them, frame by frame, with the sound. The viewer shows one test video
# of the STAViS-layout databases at a time: the ground-truth fixations and map, the coarse CAMs of the S / ST /
# SA nets (or the fine ones), coarse and fine SCAM, the 2 x mean box, the pseudo-fixations and the STA
# prediction, with the per-frame AUC-J, SIM, CC and NSS of every prediction shown. A layer that a stage has not
# produced yet is greyed out with the reason. Below the frame: the clip's spectrogram with a playhead.
#
# Run notebook 01 first (the frames and ground truth); notebooks 02-05 add layers.

# %%
from stanet_lib.config import check_parameters
from stanet_lib.viz import layers, render, viewer
from stanet_lib.stages import setup

# %% tags=["parameters"]
PROFILE: str = "demo"  # smoke | demo | paper
SEED: int = 0  # seed of the AUC-J jitter in the per-frame metrics
DATA_ROOT: str = ""  # root of synthetic/, cache/, runs/ (empty: the project data folder)
AVE_ROOT: str = ""  # unused here (the viewer shows test videos); kept for the same parameters in every notebook
STAVIS_ROOT: str = ""  # ground truth and audio root (empty: the root the cache was built from)
REPORTS_DIR: str = ""  # figures and tables; empty: reports/<profile>/
OVERRIDES: str = ""  # space-separated config overrides (see stanet_lib.config.parse_overrides)
GRID_VIDEOS: int = 2  # videos in the static grid of sample frames
GRID_FRAMES: int = 3  # frames per video in the grid
VIEWER_SIZE: int = 384  # displayed frame size in pixels
SMOKE: bool = False  # tiny run (tests)

# %%
check_parameters(globals())  # an unknown or mistyped parameter stops here
cfg, world, reports = setup(PROFILE, SMOKE, OVERRIDES, DATA_ROOT, REPORTS_DIR, load=False)
fig_dir = reports / "figures"
stavis_root = STAVIS_ROOT or None
print(f"profile {cfg.profile}: {len(layers.list_videos(world))} test videos in {world.cache}")

# %% [markdown]
# ## The viewer
# Choose a database and video, move the frame slider or press play (the sound plays from the shown frame and
# follows the slider; frames are numbered from 1, as the STAViS files), switch layers on and off (a layer that
# is on is blue with a check mark; hover over a layer for what it is, or over a greyed-out one for why it is
# missing), or compare two layers side by side. The legend under the audio player has a colour bar and one line
# for every shown layer; when several maps are on, each has a colormap of its own. The table below it holds the
# metrics of the shown predictions on the current frame (STAViS protocol: post-processing, then scored against
# the frame's ground truth).

# %%
fixation_viewer = viewer.viewer(world, size=VIEWER_SIZE, stavis_root=stavis_root, seed=SEED)
fixation_viewer

# %% [markdown]
# ## Sample frames, every layer
# The same layers as a static grid (rows: sample frames; columns: layers, ground-truth fixations dotted on the
# ground-truth map, the coarse box drawn on the coarse SCAM), saved to `figures/07_viewer_grid.png`, so the
# batch report shows them without a running kernel.

# %%
grid = layers.sample_grid(world, videos=GRID_VIDEOS, frames=GRID_FRAMES, size=128, stavis_root=stavis_root)
render.save_png(fig_dir / "07_viewer_grid.png", grid)
render.to_pil(grid)
