"""HRNetV2 for semantic segmentation (official ``seg_hrnet.py`` layout), with Mish and CSP options."""

from seg_perception.models.hrnet.model import HRNET_SPECS, HRNetSpec, HRNetV2, StageSpec
from seg_perception.models.hrnet.official import LoadReport, load_official_hrnet_state_dict

__all__ = [
    "HRNET_SPECS",
    "HRNetSpec",
    "HRNetV2",
    "LoadReport",
    "StageSpec",
    "load_official_hrnet_state_dict",
]
