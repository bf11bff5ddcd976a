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
# # 01 · Data preparation
#
# The data stage of STANet (paper §3.7, §4.1-4.2). With the default parameters it writes the **synthetic
# audio-visual world** in the real file formats (AVE layout for training, STAViS layout for testing) and then
# decodes it exactly as it would decode the real datasets: frames chosen by timestamp at a configured fps,
# resized to the square cache canvas; audio resampled to 16 kHz mono; one log-mel spectrogram per frame (1 s
# centred on the frame). Give `AVE_ROOT` / `STAVIS_ROOT` to prepare real data instead.

# %%
from pathlib import Path

from stanet_lib import paths
from stanet_lib.data import cache, synthetic
from stanet_lib.data.frames import write_stores
from stanet_lib.report import figures
from stanet_lib.config import check_parameters, load_profile, parse_overrides

# %% tags=["parameters"]
PROFILE: str = "demo"  # smoke | demo | paper
SEED: int = 0  # seed of the synthetic world
DATA_ROOT: str = ""  # root of synthetic/, cache/, runs/ (empty: the project data folder)
AVE_ROOT: str = ""  # real AVE root (empty: the synthetic world)
STAVIS_ROOT: str = ""  # real STAViS data root (empty: the synthetic world)
REPORTS_DIR: str = ""  # figures and tables; empty: reports/<profile>/
OVERRIDES: str = ""  # space-separated config overrides (see stanet_lib.config.parse_overrides)
FPS: float = 0.0  # frames per second taken from AVE clips (0: the profile value)
CACHE_SIZE: int = 0  # square cache canvas in pixels (0: the profile value)
SMOKE: bool = False  # tiny run (tests)

# %%
check_parameters(globals())  # an unknown or mistyped parameter stops here
overrides = parse_overrides(OVERRIDES)
if FPS:
    overrides["media.fps"] = FPS
if CACHE_SIZE:
    overrides["media.cache_size"] = CACHE_SIZE
cfg = load_profile("smoke" if SMOKE else PROFILE, **overrides)
dirs = paths.profile_dirs(cfg.profile, Path(DATA_ROOT) if DATA_ROOT else None)
fig_dir = paths.run_reports(cfg.profile, REPORTS_DIR) / "figures"
print(f"profile {cfg.profile}: fps {cfg.media.fps}, cache canvas {cfg.media.cache_size} px, "
      f"audio {cfg.audio.kind} ({cfg.audio.n_mels} mel bands, {cfg.audio.window_s} s per frame)")

# %% [markdown]
# ## The data
# Without real roots, the synthetic world is generated (or reused when its manifest matches the config and seed).

# %%
if AVE_ROOT or STAVIS_ROOT:
    ave_root, stavis_root = (Path(AVE_ROOT) if AVE_ROOT else None), (Path(STAVIS_ROOT) if STAVIS_ROOT else None)
else:
    world = synthetic.generate(cfg, dirs["synth"], seed=SEED)
    ave_root, stavis_root = world / "ave", world / "stavis"
print("AVE root:", ave_root, "| STAViS root:", stavis_root)

# %% [markdown]
# ## Decode into the cache
# Per video: frames at the cache canvas, frame times, per-frame audio features, whether audio is present. One
# index table for all of it. Bad files are counted, reported skips; a re-run skips what is up to date.

# %%
report = cache.prepare(cfg, ave_root, stavis_root, dirs["cache"])
print(report.summary())
stores = write_stores(dirs["cache"])  # memory-mapped frames and audio per set: the stages read these
index = cache.load_index(dirs["cache"])
index.groupby(["source", "db", "split"]).agg(clips=("video", "size"), frames=("n_frames", "sum"),
                                             audio_present=("audio_present", "mean"))

# %% [markdown]
# ## What the cache holds

# %%
figures.cache_frames(dirs["cache"], path=fig_dir / "01_frames.png");

# %%
figures.spectrogram(dirs["cache"], path=fig_dir / "01_spectrogram.png");

# %% [markdown]
# ## Fixations over a test frame
# The STAViS-layout ground truth: the continuous map (`maps/eyeMap_%05d.jpg`) and the binary fixation map
# (`fixMap_%05d.mat`, variable `eyeMap`), as the evaluation reads them.

# %%
test = index[index["source"] == "stavis"].iloc[0]
n = int(test["n_frames"])
figures.fixations(stavis_root, test["db"], test["video"], [1, max(1, n // 2), n],
                  path=fig_dir / "01_fixations.png");
