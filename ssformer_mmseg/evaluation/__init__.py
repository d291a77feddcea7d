from .polyp_metric import PolypMetric

__all__ = ['PolypMetric']
