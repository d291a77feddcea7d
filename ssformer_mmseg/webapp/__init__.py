"""A local web app (Gradio): segment uploaded frames and videos, and review
a test run's failures. ``pip install -e ".[webapp]"``; ``tools/webapp.py``
starts it."""
from .app import build_app
from .server import WebApp

__all__ = ['WebApp', 'build_app']
