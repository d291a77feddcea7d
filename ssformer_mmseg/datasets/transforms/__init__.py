from .augmentations import RandomImageEnhance, RandomMaskDilateErode
from .centre_zoom import RandomCentreZoom
from .loading import LoadPolypAnnotations, LoadPolypImage
from .soft_masks import PackPolypInputs, SoftMaskResize

__all__ = [
    'LoadPolypImage', 'LoadPolypAnnotations', 'RandomImageEnhance',
    'RandomMaskDilateErode', 'RandomCentreZoom', 'SoftMaskResize',
    'PackPolypInputs'
]
