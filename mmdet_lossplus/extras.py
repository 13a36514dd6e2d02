"""The optional dependencies (``pip install "mmdet_lossplus[demo]"``):
scikit-learn for the demo's digits, matplotlib for the hooks' and tools'
plots. Imported on use, with an error that says how to install them."""
import importlib
from types import ModuleType
from typing import Any, Tuple

# module -> (what pip installs, the extra that brings it)
OPTIONAL = {
    'sklearn': ('scikit-learn', 'demo'),
    'matplotlib': ('matplotlib', 'demo'),
}


def require(module: str, purpose: str) -> ModuleType:
    """``import module``, or an ``ImportError`` naming ``purpose`` and the
    install command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package, extra = OPTIONAL[module.split('.')[0]]
        raise ImportError(
            f'{purpose} needs {package}, which is not installed: pip install '
            f'"mmdet_lossplus[{extra}]" (or pip install {package})') from err


def new_figure(figsize: Tuple[float, float], purpose: str) -> Any:
    """A matplotlib ``Figure`` drawn by the Agg canvas, made without pyplot:
    no global backend switch and nothing left open after ``savefig``."""
    require('matplotlib', purpose)
    from matplotlib.figure import Figure
    return Figure(figsize=figsize)
