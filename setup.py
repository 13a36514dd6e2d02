from setuptools import setup

# Metadata lives in setup.cfg.
setup()
