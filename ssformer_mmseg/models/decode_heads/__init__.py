from .pld_head import PLDHead

__all__ = ['PLDHead']
