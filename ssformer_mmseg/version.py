"""The package version, in this one place: ``pyproject.toml`` reads it
(setuptools ``attr:``, statically), ``CITATION.cff`` and ``CHANGELOG.md``
repeat it and a test checks that they agree."""
__version__ = '0.2.0'
