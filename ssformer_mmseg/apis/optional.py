"""Optional dependencies (the engines, the web app), imported only when
used."""
import importlib
from typing import Dict, Optional, Sequence

ONNX_HINT = ('pip install onnx onnxscript onnxruntime  (or pip install -e '
             '".[onnx]"; onnxruntime-gpu for CUDA)')
OPENVINO_HINT = 'pip install openvino nncf  (or pip install -e ".[openvino]")'
WEBAPP_HINT = 'pip install "gradio>=6,<7"  (or pip install -e ".[webapp]")'
#: The install command of each optional package (default: ONNX_HINT);
#: the engines' own packages are their backends' (``INSTALL_HINT``).
INSTALL_HINTS = {
    'nncf': OPENVINO_HINT,
    'gradio': WEBAPP_HINT,
    'gradio_client': WEBAPP_HINT,
}


def installed_versions(modules: Sequence[str]) -> Dict[str, Optional[str]]:
    """``__version__`` of each module, None for those not installed."""
    versions = {}
    for module in modules:
        try:
            versions[module] = require(module).__version__
        except ImportError:
            versions[module] = None
    return versions


def require(module: str,
            purpose: str = 'ONNX export / inference',
            hint: Optional[str] = None):
    """Import an optional dependency or explain how to install it.

    Args:
        module (str): The module to import.
        purpose (str): What it is needed for, for the message.
        hint (str, optional): The install command (default: the module's
            in :data:`INSTALL_HINTS`).

    Raises:
        ImportError: Naming the module, what needs it and the pip command.
    """
    if hint is None:
        hint = INSTALL_HINTS.get(module.split('.')[0], ONNX_HINT)
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'{module} is needed for {purpose} but cannot be imported '
            f'({error}); install it with: {hint}') from None
