"""The error every checked file reader raises."""
from typing import Optional


class PolypFileError(ValueError):
    """A polyp image or mask that cannot be used; the message names it.

    Args:
        path (str): The file (or folder, or split file).
        problem (str, optional): What is wrong with it. Without it, ``path``
            is taken as the whole message: PyTorch's DataLoader re-raises a
            worker's exception from its message alone.
    """

    def __init__(self, path: str, problem: Optional[str] = None):
        super().__init__(path if problem is None else f'{path}: {problem}')
        self.path = path
        self.problem = problem
