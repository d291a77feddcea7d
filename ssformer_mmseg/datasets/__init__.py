from .polyp import (CVC300Dataset, CVCClinicDBDataset, CVCColonDBDataset,
                    ETISLaribPolypDBDataset, KvasirSEGDataset, PolypDataset)
from .polyp_files import PolypFileError
from .transforms import LoadPolypAnnotations, LoadPolypImage

__all__ = [
    'PolypDataset', 'KvasirSEGDataset', 'CVCClinicDBDataset',
    'CVCColonDBDataset', 'ETISLaribPolypDBDataset', 'CVC300Dataset',
    'PolypFileError', 'LoadPolypImage', 'LoadPolypAnnotations'
]
