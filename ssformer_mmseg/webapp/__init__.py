"""A local web app (Gradio): segment uploaded frames and videos, and review
a test run's failures. ``pip install -e ".[webapp]"``; ``tools/webapp.py``
starts it."""
from .app import WebApp, build_app

__all__ = ['WebApp', 'build_app']
