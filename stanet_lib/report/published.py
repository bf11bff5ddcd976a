"""Numbers quoted from the STANet paper (Wang et al., CVPR 2021), as data, for printing beside ours.

Source: ``../shared/reference/paper_stanet_cvpr2021.txt`` (Tables 1-4), cross-checked with
``reference/evaluation_protocol_and_datasets.md`` §3.2. Metric order everywhere: AUC-J, SIM, s-AUC, CC, NSS.
Nothing here is measured by this package; every table that shows these rows labels them
:data:`QUOTED_LABEL`.
"""

from __future__ import annotations

import pandas as pd

from ..eval.metrics import PAPER_LABELS, TABLE_METRICS

QUOTED_LABEL = "quoted from the paper"
PAPER = "Wang et al., CVPR 2021 (STANet)"

#: STAViS folder name -> column name used in the paper's Table 4.
DATASET_NAMES = {"AVAD": "AVAD", "DIEM": "DIEM", "SumMe": "SumMe", "ETMD_av": "ETMD",
                 "Coutrot_db1": "Coutrot1", "Coutrot_db2": "Coutrot2"}
TABLE4_DATASETS = ("AVAD", "DIEM", "SumMe", "ETMD", "Coutrot1", "Coutrot2")

#: Table 4 methods in the paper's row order, with their supervision.
TABLE4_METHODS = {
    "ITTI": "unsupervised", "GBVS": "unsupervised", "SCLI": "unsupervised", "SBF": "unsupervised",
    "AWS-D": "unsupervised", "GradCAM++": "weakly", "VUNP": "weakly", "WSS": "weakly", "MWS": "weakly",
    "WSSA": "weakly", "STANet": "weakly", "DeepNet": "fully", "SalGAN": "fully", "DeepVS": "fully",
    "ACLNet": "fully",
}

# method -> dataset -> (AUC-J, SIM, s-AUC, CC, NSS); transcribed from Table 4 of the paper text.
_T4 = {
    "ITTI": {"AVAD": (0.688, 0.170, 0.533, 0.131, 0.611), "DIEM": (0.663, 0.217, 0.583, 0.137, 0.555),
             "SumMe": (0.666, 0.151, 0.559, 0.097, 0.436), "ETMD": (0.661, 0.127, 0.582, 0.083, 0.425),
             "Coutrot1": (0.616, 0.178, 0.529, 0.082, 0.319), "Coutrot2": (0.694, 0.142, 0.530, 0.040, 0.331)},
    "GBVS": {"AVAD": (0.854, 0.247, 0.572, 0.337, 1.556), "DIEM": (0.830, 0.318, 0.605, 0.356, 1.277),
             "SumMe": (0.808, 0.221, 0.567, 0.272, 1.134), "ETMD": (0.856, 0.226, 0.613, 0.299, 1.398),
             "Coutrot1": (0.798, 0.253, 0.526, 0.272, 1.055), "Coutrot2": (0.819, 0.189, 0.577, 0.183, 1.071)},
    "SCLI": {"AVAD": (0.747, 0.210, 0.535, 0.170, 0.792), "DIEM": (0.739, 0.267, 0.590, 0.207, 0.779),
             "SumMe": (0.746, 0.209, 0.577, 0.184, 0.796), "ETMD": (0.761, 0.165, 0.570, 0.129, 0.617),
             "Coutrot1": (0.754, 0.216, 0.536, 0.239, 0.883), "Coutrot2": (0.669, 0.137, 0.510, 0.014, 0.093)},
    "SBF": {"AVAD": (0.833, 0.272, 0.576, 0.308, 1.489), "DIEM": (0.759, 0.292, 0.608, 0.301, 1.081),
            "SumMe": (0.783, 0.228, 0.590, 0.230, 1.023), "ETMD": (0.805, 0.232, 0.641, 0.262, 1.298),
            "Coutrot1": (0.726, 0.187, 0.530, 0.215, 0.789), "Coutrot2": (0.827, 0.152, 0.583, 0.131, 1.101)},
    "AWS-D": {"AVAD": (0.825, 0.221, 0.589, 0.304, 1.378), "DIEM": (0.733, 0.250, 0.612, 0.301, 1.128),
              "SumMe": (0.747, 0.192, 0.603, 0.186, 0.853), "ETMD": (0.754, 0.161, 0.664, 0.181, 0.907),
              "Coutrot1": (0.729, 0.214, 0.581, 0.207, 0.872), "Coutrot2": (0.783, 0.170, 0.590, 0.146, 0.842)},
    "GradCAM++": {"AVAD": (0.777, 0.273, 0.559, 0.255, 1.217), "DIEM": (0.732, 0.216, 0.583, 0.271, 0.778),
                  "SumMe": (0.774, 0.217, 0.593, 0.225, 0.924), "ETMD": (0.575, 0.124, 0.157, 0.576, 0.736),
                  "Coutrot1": (0.704, 0.137, 0.537, 0.210, 0.511),
                  "Coutrot2": (0.733, 0.114, 0.567, 0.168, 0.625)},
    "VUNP": {"AVAD": (0.574, 0.067, 0.500, 0.142, 0.292), "DIEM": (0.558, 0.047, 0.515, 0.172, 0.186),
             "SumMe": (0.555, 0.013, 0.507, 0.114, 0.048), "ETMD": (0.505, 0.030, 0.103, 0.132, 0.593),
             "Coutrot1": (0.589, 0.063, 0.514, 0.152, 0.304), "Coutrot2": (0.661, 0.101, 0.536, 0.162, 0.491)},
    "WSS": {"AVAD": (0.858, 0.292, 0.592, 0.347, 1.655), "DIEM": (0.803, 0.333, 0.620, 0.344, 1.293),
            "SumMe": (0.812, 0.245, 0.589, 0.279, 1.098), "ETMD": (0.854, 0.277, 0.661, 0.334, 1.650),
            "Coutrot1": (0.772, 0.247, 0.547, 0.233, 0.975), "Coutrot2": (0.835, 0.208, 0.578, 0.192, 1.178)},
    "MWS": {"AVAD": (0.834, 0.272, 0.573, 0.309, 1.477), "DIEM": (0.806, 0.336, 0.628, 0.350, 1.308),
            "SumMe": (0.808, 0.237, 0.607, 0.258, 1.155), "ETMD": (0.833, 0.237, 0.649, 0.293, 1.425),
            "Coutrot1": (0.743, 0.231, 0.528, 0.201, 0.798), "Coutrot2": (0.839, 0.188, 0.581, 0.168, 1.197)},
    "WSSA": {"AVAD": (0.807, 0.261, 0.574, 0.285, 1.339), "DIEM": (0.767, 0.305, 0.608, 0.311, 1.178),
             "SumMe": (0.755, 0.225, 0.585, 0.231, 1.058), "ETMD": (0.793, 0.201, 0.622, 0.222, 1.075),
             "Coutrot1": (0.701, 0.180, 0.535, 0.169, 0.780), "Coutrot2": (0.797, 0.185, 0.571, 0.180, 1.263)},
    "STANet": {"AVAD": (0.873, 0.334, 0.580, 0.438, 2.018), "DIEM": (0.861, 0.391, 0.658, 0.469, 1.716),
               "SumMe": (0.854, 0.294, 0.627, 0.368, 1.647), "ETMD": (0.908, 0.318, 0.682, 0.448, 2.176),
               "Coutrot1": (0.829, 0.306, 0.542, 0.339, 1.376), "Coutrot2": (0.850, 0.247, 0.597, 0.273, 1.475)},
    "DeepNet": {"AVAD": (0.869, 0.256, 0.561, 0.383, 1.850), "DIEM": (0.832, 0.318, 0.622, 0.407, 1.520),
                "SumMe": (0.848, 0.227, 0.645, 0.332, 1.550), "ETMD": (0.889, 0.225, 0.699, 0.387, 1.900),
                "Coutrot1": (0.824, 0.273, 0.559, 0.340, 1.410), "Coutrot2": (0.896, 0.201, 0.600, 0.301, 1.820)},
    "SalGAN": {"AVAD": (0.886, 0.360, 0.579, 0.491, 2.550), "DIEM": (0.857, 0.393, 0.660, 0.486, 1.890),
               "SumMe": (0.875, 0.289, 0.688, 0.397, 1.970), "ETMD": (0.903, 0.311, 0.746, 0.476, 2.460),
               "Coutrot1": (0.853, 0.332, 0.579, 0.416, 1.850), "Coutrot2": (0.933, 0.290, 0.618, 0.439, 2.960)},
    "DeepVS": {"AVAD": (0.896, 0.391, 0.585, 0.528, 3.010), "DIEM": (0.840, 0.392, 0.625, 0.452, 1.860),
               "SumMe": (0.842, 0.262, 0.612, 0.317, 1.620), "ETMD": (0.904, 0.349, 0.686, 0.461, 2.480),
               "Coutrot1": (0.830, 0.317, 0.561, 0.359, 1.770), "Coutrot2": (0.925, 0.259, 0.646, 0.449, 3.790)},
    "ACLNet": {"AVAD": (0.905, 0.446, 0.560, 0.580, 3.170), "DIEM": (0.869, 0.427, 0.622, 0.522, 2.020),
               "SumMe": (0.868, 0.296, 0.609, 0.379, 1.790), "ETMD": (0.915, 0.329, 0.675, 0.477, 2.360),
               "Coutrot1": (0.850, 0.361, 0.542, 0.425, 1.920), "Coutrot2": (0.926, 0.322, 0.594, 0.448, 3.160)},
}


# Tables 1-3 (all on AVAD): (group, variant) -> metrics.
TABLE1 = {("coarse", "SCAM_avg"): (0.786, 0.219, 0.538, 0.297, 1.312),
          ("coarse", "SCAM_sel"): (0.801, 0.256, 0.554, 0.345, 1.364),
          ("fine", "SCAM_avg"): (0.845, 0.303, 0.573, 0.399, 1.797),
          ("fine", "SCAM_sel"): (0.873, 0.334, 0.580, 0.438, 2.018)}
TABLE2 = {("coarse", "CAM_S"): (0.774, 0.202, 0.545, 0.261, 1.269),
          ("coarse", "CAM_ST"): (0.785, 0.223, 0.536, 0.269, 1.292),
          ("coarse", "CAM_SA"): (0.780, 0.214, 0.542, 0.277, 1.276),
          ("coarse", "CAM_STA"): (0.793, 0.227, 0.551, 0.293, 1.273),
          ("coarse", "SCAM"): (0.801, 0.256, 0.554, 0.345, 1.364),
          ("fine", "CAM_S"): (0.834, 0.291, 0.574, 0.376, 1.528),
          ("fine", "CAM_ST"): (0.843, 0.289, 0.571, 0.372, 1.581),
          ("fine", "CAM_SA"): (0.845, 0.304, 0.564, 0.384, 1.622),
          ("fine", "CAM_STA"): (0.856, 0.296, 0.579, 0.415, 1.803),
          ("fine", "SCAM"): (0.873, 0.334, 0.580, 0.438, 2.018)}
TABLE3 = {("", "w/o AS"): (0.864, 0.330, 0.571, 0.421, 1.833),
          ("", "w/ AS"): (0.873, 0.334, 0.580, 0.438, 2.018)}
ABLATIONS = {1: TABLE1, 2: TABLE2, 3: TABLE3}
ABLATION_CAPTIONS = {
    1: "Table 1: selective vs average fusion (AVAD)",
    2: "Table 2: multi-stage CAMs by source (AVAD)",
    3: "Table 3: with and without the audio switch (AVAD)",
}


def table4_published(datasets: tuple[str, ...] = TABLE4_DATASETS) -> pd.DataFrame:
    """Table 4 as a DataFrame: rows = methods (paper order), columns = (dataset, metric) with metric labels
    AUC-J, SIM, s-AUC, CC, NSS; a ``supervision`` column first."""
    cols = pd.MultiIndex.from_tuples([(d, PAPER_LABELS[m]) for d in datasets for m in TABLE_METRICS])
    rows = [[v for d in datasets for v in _T4[meth][d]] for meth in TABLE4_METHODS]
    df = pd.DataFrame(rows, index=pd.Index(list(TABLE4_METHODS), name="method"), columns=cols)
    df.insert(0, ("", "supervision"), [TABLE4_METHODS[m] for m in TABLE4_METHODS])
    return df


def ablation_published(table: int) -> pd.DataFrame:
    """Table 1, 2 or 3 as a DataFrame: index (stage, variant), columns AUC-J, SIM, s-AUC, CC, NSS."""
    if table not in ABLATIONS:
        raise ValueError(f"the paper has ablation tables 1-3, not {table}")
    data = ABLATIONS[table]
    idx = pd.MultiIndex.from_tuples(list(data), names=["stage", "variant"])
    return pd.DataFrame(list(data.values()), index=idx, columns=[PAPER_LABELS[m] for m in TABLE_METRICS])
