"""Data: the dataset readers (AVE, STAViS), decoding, per-frame audio features, the cache (the data stage, notebook
01), the synthetic world, and the frames in memory that every net trains on.

Modules: :mod:`~stanet_lib.data.ave`, :mod:`~stanet_lib.data.stavis` (real layouts), :mod:`~stanet_lib.data.media`
(PyAV decoding), :mod:`~stanet_lib.data.audio` (log-mel / STFT per frame), :mod:`~stanet_lib.data.encode` (writing
mp4, wav, jpg), :mod:`~stanet_lib.data.cache` (``prep``), :mod:`~stanet_lib.data.synthetic` (``synth``),
:mod:`~stanet_lib.data.frames` (:class:`FrameSet`, :class:`FrameDataset`), :mod:`~stanet_lib.data.loaders`.
"""

from .cache import load_index, prepare
from .frames import FrameDataset, FrameSet, load_frameset, resized_frames
from .synthetic import generate

__all__ = ["FrameSet", "FrameDataset", "load_frameset", "resized_frames", "prepare", "load_index", "generate"]
