"""Networks (paper §3.2-3.8, Fig. 6): the VGG16 and audio encoders, the ST / SA fusion blocks, the S / ST / SA
classifiers with their CAMs (Eq. 1, 4), the audio switch and tagger, the STA net (Eq. 5), and how they run
(:mod:`~stanet_lib.nets.runtime`; features once per frame over the (t-1, t, t+1) windows:
:mod:`~stanet_lib.nets.windows`). Pure modules: tensors in, named tuples out, no I/O except weight loading.
"""

from .classifier import Classifier, build_model
from .encoders import VGG16Encoder, load_imagenet
from .sta import STANet
from .windows import predict_frames

__all__ = ["VGG16Encoder", "load_imagenet", "Classifier", "build_model", "STANet", "predict_frames"]
