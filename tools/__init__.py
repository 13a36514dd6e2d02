"""The repository's tools as a package: ``pip install -e .`` maps this
folder to ``mmdet_lossplus_tools`` (setup.py), so the scripts import each
other and the results machinery (``mmdet_lossplus_tools.results``)
without touching ``sys.path``. Each script still runs as
``python tools/<path>.py``."""
