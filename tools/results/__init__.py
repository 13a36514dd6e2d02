"""The results machinery of the demo runs, one job per module: the
results file (``store``), what a config is (``variants``), training and
testing runs (``runner``) and the tables, picture and README blocks
(``report``). Imported as ``mmdet_lossplus_tools.results`` (the editable
install maps ``tools/`` to ``mmdet_lossplus_tools``)."""
