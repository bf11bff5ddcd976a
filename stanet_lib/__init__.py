"""stanet_lib: a complete, Python-only reproduction of STANet (Wang et al., CVPR 2021).

Modules (one concept each): ``config`` (profiles), ``paths``, ``artefacts`` (atomic writes, manifests),
``ave`` / ``stavis`` (dataset readers), ``synth`` (the synthetic world), ``media`` (decoding), ``audio``
(per-frame features), ``cache`` (the data stage), ``metrics`` / ``evaluation`` (STAViS protocol),
``bench`` (benchmarks), and the later stages. ``python -m stanet_lib --help`` lists the commands.
"""

__version__ = "0.1.0"
