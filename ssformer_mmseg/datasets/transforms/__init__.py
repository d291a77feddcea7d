from .loading import LoadPolypAnnotations, LoadPolypImage

__all__ = ['LoadPolypImage', 'LoadPolypAnnotations']
