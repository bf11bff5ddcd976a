"""Typed, frozen configuration: one object per run, three profiles (``smoke``, ``demo``, ``paper``).

Every number the paper states is in the ``paper`` profile with the section it comes from; the CPU
profiles (``smoke``, ``demo``) differ only where a comment says why. Overrides are dotted keys,
``load_profile("demo", **{"train.epochs": 2})`` or ``--set train.epochs=2`` on the command line.

Sources: paper §4.2 (sizes, batches, SGD 1e-3), ``reference/original_code_audit.md`` §8 (everything the
paper leaves out), ``../shared/DESIGN.md`` fidelity table (which default we take).

The notebooks' parameters are the other input of a run; :func:`check_parameters` makes an unknown or mistyped one
an error (the end of this module).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROFILES = ("smoke", "demo", "paper")


@dataclass(frozen=True)
class SynthConfig:
    """The synthetic audio-visual world (DESIGN.md, "The synthetic world")."""

    num_classes: int = 6  # K categories (AVE has 28)
    clips_per_class: dict = field(default_factory=lambda: {"train": 10, "val": 2, "test": 2})
    clip_seconds: float = 4.0
    video_fps: float = 12.0  # encoding fps of the AVE-layout mp4 files
    width: int = 160  # AVE-layout mp4 size
    height: int = 120
    sample_rate: int = 22050  # written sample rate; the reader resamples to 16 kHz
    mismatched_audio_fraction: float = 0.25  # clips whose audio does not match the tag (switch truth)
    distractors: int = 2  # silent objects of other categories per clip
    # STAViS-layout test databases: name -> (width, height, fps, videos, frames per video)
    test_dbs: dict = field(
        default_factory=lambda: {
            "SynthAV_a": (160, 90, 25.0, 6, 40),
            "SynthAV_b": (128, 96, 15.0, 6, 30),
        }
    )
    folds: int = 3
    observers: int = 8  # simulated eye-tracking subjects
    # Rendering (stanet_lib/synth.py). Sizes are fractions of min(height, width): all resolutions look alike.
    body_families: int = 3  # body shapes (disc, square, triangle) shared by several categories
    object_scale: float = 0.2  # sounding object's body half-size / min(H, W)
    distractor_scale: float = 0.7  # distractor size / sounding object's (the tagged object dominates)
    part_scale: float = 0.4  # discriminative part radius / body half-size
    frame_noise: float = 5.0  # per-pixel temporal noise std (grey levels)
    full_event_fraction: float = 0.66  # AVE: 2,750 of 4,143 events span the whole clip
    # Simulated eye tracking: share of fixation episodes per target, mean episode length (s), GT map blur.
    fixation_mix: dict = field(
        default_factory=lambda: {"part": 0.65, "body": 0.15, "distractor": 0.12, "centre": 0.08}
    )
    fixation_dwell_s: float = 0.3
    gt_sigma_frac: float = 0.03  # continuous map: Gaussian sigma / frame diagonal (~1 degree)


@dataclass(frozen=True)
class MediaConfig:
    """Decoding: frames chosen by timestamp at ``fps``, resized (aspect not kept, as the paper's code) to a
    square ``cache_size`` canvas; audio resampled to ``sample_rate`` mono."""

    fps: float = 4.0  # frames per second taken from AVE clips (the released code took every frame)
    cache_size: int = 128  # square canvas the fine-stage crops are cut from (paper code: 356)
    sample_rate: int = 16000  # audiostft.py: 16 kHz mono
    use_event_span: bool = True  # keep only frames inside the AVE event [start, end)
    on_truncated: str = "error"  # a truncated video that still decodes in part: "error" (skip it) or "keep"
    prep_workers: int = 2  # processes decoding videos in the data stage (1 = in the calling process)


@dataclass(frozen=True)
class AudioConfig:
    """Per-frame audio features. ``kind="logmel"``: 1 s window centred on the frame (paper §3.7, "1 frame and
    1 s audio"); ``kind="stft"``: the released code's features (audit §1.3: 0.5 s, scipy spectrogram
    nperseg 512 / noverlap 353, log(x+1e-7), z-score) -> 257 x 48."""

    kind: str = "logmel"
    window_s: float = 1.0
    n_fft: int = 512
    win_length: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8000.0
    log_offset: float = 1e-6
    power: float = 2.0  # torchaudio MelSpectrogram: power spectrogram
    center: bool = True
    pad_mode: str = "reflect"
    mel_norm: str = ""  # "" (None) or "slaney"
    mel_scale: str = "htk"
    stft_window_s: float = 0.5
    stft_nperseg: int = 512
    stft_noverlap: int = 353
    stft_placement: str = "centred"  # "centred" on frame times, or "spread": audiostft.py's IoU formula


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes. ``width`` multiplies VGG16's channel counts (1.0 = torchvision vgg16)."""

    width: float = 0.125
    coarse_size: int = 64  # paper §4.2: 256
    fine_size: int = 64  # paper §4.2: 356
    sta_size: int = 64  # paper §4.2: 356
    audio_channels: int = 32
    imagenet_weights: str = ""  # path to a torchvision vgg16 state_dict; empty = random init
    output_stride: int = 8  # 8: dilated VGG16-D1 of the released "+" code; 16: no pool5; 32: plain VGG16
    # True: torchvision vgg16_bn layout and names. Plain VGG16 (the paper's, False) does not learn from scratch
    # in a CPU budget (a toy 4-class task: chance after 15 epochs at lr 1e-3..3e-2, vgg16_bn 94 %); set
    # False together with a torchvision vgg16 ImageNet file (imagenet_weights).
    batch_norm: bool = True
    hard_switch: bool = False  # SA gate: soft p_switch (G1 code); True: p_switch > 0.5 (option)
    sta_decoder: str = "deconv"  # STA net: "deconv" (paper: three transposed convs); "skip" (released code)


@dataclass(frozen=True)
class TrainConfig:
    """SGD as in paper §4.2 (lr 1e-3); momentum 0.9 from the released code (audit §8)."""

    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 6
    batch_coarse: int = 20  # paper §4.2
    batch_fine: int = 3  # paper §4.2
    batch_sta: int = 3  # paper §4.2
    num_workers: int = 0
    checkpoint_every: int = 1  # epochs
    amp: bool = True  # bf16 autocast, CUDA only (never on the CPU)
    deterministic: bool = True  # deterministic kernels (always on the CPU); False on CUDA = cuDNN autotuning
    channels_last: bool = True  # CUDA only: 2D convs in channels-last memory format
    progress: bool = True  # tqdm bars (rank 0 only)
    sta_noswitch: bool = True  # also train an STA net without the audio switch (Table 3 analogue)
    # STA encoder initialisation: the encoder of this trained classification net (nets/<name>/best.pt), the
    # offline stand-in for the paper's ImageNet VGG16; "" = random. model.imagenet_weights, when set, wins.
    sta_encoder_init: str = "coarse_S"
    compile: bool = False  # torch.compile the training model (CUDA); off: not measured faster (reports/benchmarks)


@dataclass(frozen=True)
class ScamConfig:
    """SCAM (Eq. 2-3) and the coarse-to-fine box (paper §3.6)."""

    lam: float = 1e-4  # Eq. 2 lambda, Coarse_Fine_crop.m
    box_factor: float = 2.0  # "2 x average"
    temporal_smoothing: bool = False  # released code: 5-frame recursive mean (option)
    mean_floor: float = 0.0  # released code: 3.0 (zero below 3 x mean) (option)
    hard_filter: bool = False  # released code: top-1 == tag and p > 0.99 (option)
    # A frame whose fine SCAM is all zero (Eq. 3 filtered out every source: no net's top-1 was the tag) carries no
    # fixation; it is not an STA training target (valid = False), as in the released code, where no map was
    # written for it (audit §4.1). The smoke profile turns it off: its 1-epoch nets are at chance.
    drop_empty: bool = True


@dataclass(frozen=True)
class EvalConfig:
    """STAViS protocol (evaluation_protocol_and_datasets.md §1.2)."""

    blur_sigma: float = 2.0
    sauc_splits: int = 100
    sauc_step: float = 0.1
    every_nth: int = 1  # the released STANet test code scored every 30th frame
    seed: int = 0


@dataclass(frozen=True)
class Config:
    """The resolved configuration of a run: the profile name, the seed and one section per concern."""
    profile: str = "demo"
    seed: int = 0
    synth: SynthConfig = field(default_factory=SynthConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    scam: ScamConfig = field(default_factory=ScamConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def override(self, **dotted: Any) -> Config:
        """Return a copy with ``section.field=value`` overrides applied (unknown keys raise)."""
        cfg = self
        for key, value in dotted.items():
            section, _, name = key.partition(".")
            if not name:
                if section not in {f.name for f in dataclasses.fields(cfg)}:
                    raise KeyError(f"unknown config key {key!r}")
                cfg = dataclasses.replace(cfg, **{section: value})
                continue
            sub = getattr(cfg, section, None)
            if sub is None or not dataclasses.is_dataclass(sub):
                raise KeyError(f"unknown config section {section!r} in {key!r}")
            if name not in {f.name for f in dataclasses.fields(sub)}:
                raise KeyError(f"unknown config key {key!r}")
            cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(sub, **{name: value})})
        return cfg


def _smoke() -> Config:
    # Tiny: every stage runs in seconds; numbers mean nothing.
    return Config(
        profile="smoke",
        synth=SynthConfig(
            num_classes=3,
            clips_per_class={"train": 3, "val": 1, "test": 1},
            clip_seconds=2.0,
            width=96,
            height=72,
            test_dbs={"SynthAV_a": (96, 54, 25.0, 3, 12), "SynthAV_b": (80, 60, 15.0, 3, 10)},
            observers=4,
        ),
        media=MediaConfig(fps=4.0, cache_size=64),
        model=ModelConfig(width=0.0625, coarse_size=32, fine_size=32, sta_size=32, audio_channels=8),
        train=TrainConfig(lr=0.02, epochs=1, batch_coarse=8, batch_fine=4, batch_sta=4),
        scam=ScamConfig(drop_empty=False),  # nets at chance after 1 epoch: most fine SCAMs are empty
    )


def _demo() -> Config:
    # CPU budget: data < 2 min, stages 02-04 < 8 min, whole pipeline < 15 min on 2 cores
    # (measured: README). 6 epochs: 8 took stages 02-04 to 8.9 min, 7 to 8.3 min.
    # Deviations from the paper, all because the nets start from scratch (no ImageNet weights offline) and are
    # ~60x smaller (width 1/8): batch norm (ModelConfig default) and lr 0.02 (at 1e-3 nothing learns within the
    # CPU budget: measured, README); batches of 20 in every stage. More, shorter training clips generalise
    # better than fewer long ones (each clip has its own background).
    return Config(
        profile="demo",
        synth=SynthConfig(clips_per_class={"train": 24, "val": 4, "test": 2}, clip_seconds=3.0),
        train=TrainConfig(lr=0.02, epochs=6, batch_coarse=20, batch_fine=20, batch_sta=20),
    )


def _paper() -> Config:
    # Paper §4.2: coarse 256 / batch 20; fine and STA 356 / batch 3; SGD lr 1e-3. Real data (AVE, STAViS).
    return Config(
        profile="paper",
        media=MediaConfig(fps=4.0, cache_size=356),
        # ImageNet VGG16 (torchvision vgg16, no batch norm) when model.imagenet_weights names the file.
        model=ModelConfig(width=1.0, coarse_size=256, fine_size=356, sta_size=356, audio_channels=128,
                          batch_norm=False),
        # num_workers 0: the frame sets are in memory and make_loader fetches whole batches (uint8) in the main
        # process; worker processes only add inter-process copies (bench loader, paper sizes, 2-core CPU: fine S
        # 5,764 samples/s in-process vs 1,201 with 2 workers; one H200 consumed 495 samples/s at commit 72ae60b)
        train=TrainConfig(epochs=15, batch_coarse=20, batch_fine=3, batch_sta=3, num_workers=0),
    )


def load_profile(name: str = "demo", **overrides: Any) -> Config:
    """The resolved config of a profile, with dotted overrides (``"train.epochs": 2``)."""
    builders = {"smoke": _smoke, "demo": _demo, "paper": _paper}
    if name not in builders:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return builders[name]().override(**overrides)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["train.epochs=2", "scam.lam=1e-3"]`` -> ``{"train.epochs": 2, "scam.lam": 0.001}`` (JSON values)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


# ------------------------------------------------------------------------------------ notebook parameters
# Notebook parameters: an unknown or mistyped papermill parameter is an error, not a warning.
#
# papermill only warns when ``-p NAME value`` names no parameter of the notebook and then runs it with the
# defaults (``-p profile smoke`` runs the demo). Every stage notebook therefore calls :func:`check_parameters`
# first in the cell after its parameters cell. The check needs no list of names: the parameters cell declares
# each parameter with an annotation (``PROFILE: str = "demo"``), which Python records in the namespace's
# ``__annotations__``, while papermill's injected cell assigns without one (``PROFILE = "smoke"``). So a data
# value (str, number, bool, list, dict, None) in the namespace that is not annotated was injected under a name
# the notebook does not have; names the kernel put there itself (IPython's ``user_ns_hidden``), private names,
# modules, functions and classes (the imports above) are not parameters. The check runs once per kernel (it
# marks the namespace): running the cell again in JupyterLab, after later cells have defined names of their own,
# does not raise.
#
# :data:`PIPELINE_PARAMETERS` are the parameters the pipeline (``python -m stanet_lib run``) passes to every
# notebook; each notebook declares all of them (a test checks it).

#: The parameters the pipeline passes to every stage notebook (each notebook declares them all).
PIPELINE_PARAMETERS: tuple[str, ...] = ("PROFILE", "SEED", "DATA_ROOT", "AVE_ROOT", "STAVIS_ROOT", "REPORTS_DIR",
                                        "OVERRIDES", "SMOKE")
_CHECKED = "_stanet_parameters_checked"
_DATA = (str, int, float, bool, list, dict, tuple, type(None))


class ParameterError(ValueError):
    """A notebook was given a parameter it does not have, or a value of the wrong type."""


def _type_problem(name: str, value: Any, annotation: Any) -> str | None:
    if not isinstance(annotation, type) or annotation not in (str, int, float, bool):
        return None  # only the simple literal types of a parameters cell are checked
    ok = isinstance(value, annotation) and not (isinstance(value, bool) and annotation is not bool)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    return None if ok else f"{name} must be {annotation.__name__}, got {type(value).__name__} {value!r}"


def check_parameters(namespace: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> list[str]:
    """Raise :class:`ParameterError` when ``namespace`` (a notebook's ``globals()``) holds a parameter the
    notebook does not declare, or a declared one of the wrong type; return the declared names otherwise.

    Args:
        namespace: the notebook's globals after papermill's injected cell.
        hidden: names the kernel defined itself (default: IPython's ``user_ns_hidden`` when running in IPython).

    Example:
        >>> check_parameters({"__annotations__": {"PROFILE": str}, "PROFILE": "smoke"})
        ['PROFILE']
    """
    declared = dict(namespace.get("__annotations__", {}))
    if namespace.get(_CHECKED):
        return list(declared)
    if hidden is None:
        ip = namespace.get("get_ipython")
        hidden = getattr(ip(), "user_ns_hidden", {}) if callable(ip) else {}
    unknown = sorted(n for n, v in namespace.items() if not n.startswith("_") and n not in hidden
                     and n not in declared and isinstance(v, _DATA))
    problems = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), list(declared), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"unknown parameter {name!r}{hint}")
    problems += [p for n, t in declared.items() if n in namespace
                 for p in [_type_problem(n, namespace[n], t)] if p]
    if problems:
        raise ParameterError("; ".join(problems) + f". This notebook's parameters: {', '.join(declared)}")
    if isinstance(namespace, dict):
        namespace[_CHECKED] = True
    return list(declared)
