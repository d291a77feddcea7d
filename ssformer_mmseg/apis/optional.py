"""Optional dependencies (the engines), imported only when used."""
import importlib

ONNX_HINT = ('pip install onnx onnxscript onnxruntime  (or pip install -e '
             '".[onnx]"; onnxruntime-gpu for CUDA)')


def require(module: str,
            purpose: str = 'ONNX export / inference',
            hint: str = ONNX_HINT):
    """Import an optional dependency or explain how to install it.

    Args:
        module (str): The module to import.
        purpose (str): What it is needed for, for the message.
        hint (str): The install command.

    Raises:
        ImportError: Naming the module, what needs it and the pip command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'{module} is needed for {purpose} but cannot be imported '
            f'({error}); install it with: {hint}') from None
