from .augmentations import RandomImageEnhance, RandomMaskDilateErode
from .loading import LoadPolypAnnotations, LoadPolypImage

__all__ = [
    'LoadPolypImage', 'LoadPolypAnnotations', 'RandomImageEnhance',
    'RandomMaskDilateErode'
]
