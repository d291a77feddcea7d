from .polyp import (CVC300Dataset, CVCClinicDBDataset, CVCColonDBDataset,
                    ETISLaribPolypDBDataset, KvasirSEGDataset, PolypDataset)
from .polyp_files import PolypFileError
from .synthetic import SyntheticPolypDataset, make_synthetic_polyp_set
from .transforms import LoadPolypAnnotations, LoadPolypImage

__all__ = [
    'PolypDataset', 'KvasirSEGDataset', 'CVCClinicDBDataset',
    'CVCColonDBDataset', 'ETISLaribPolypDBDataset', 'CVC300Dataset',
    'SyntheticPolypDataset', 'make_synthetic_polyp_set', 'PolypFileError',
    'LoadPolypImage', 'LoadPolypAnnotations'
]
