from .nv_mit import NVMixVisionTransformer

__all__ = ['NVMixVisionTransformer']
