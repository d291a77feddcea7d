from .polyp_tta import PolypTTAModel

__all__ = ['PolypTTAModel']
