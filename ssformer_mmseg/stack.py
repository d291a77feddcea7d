"""The OpenMMLab stack under the package: ``mmseg``, ``mmengine`` and
``mmcv`` must each be importable, from one distribution.

They come from upstream (``mmsegmentation``, ``mmengine``, ``mmcv`` or
``mmcv-lite``) or from the maintained forks (``onedl-mmsegmentation``,
``onedl-mmengine``, ``onedl-mmcv``), which install the same modules. pip
sees different distribution names, so nothing stops both of one module from
being installed: their files then mix in one folder, and the failure comes
much later, somewhere deep. ``import ssformer_mmseg`` checks first
(:func:`check`): a missing module is an error naming the commands that
install a stack, two distributions of one module a warning naming both and
the commands that keep either.

OpenCV is checked too: mmengine and mmseg ask for ``opencv-python``,
pysodmetrics 1.6.2 for ``opencv-python-headless<5``; both unpack into one
``cv2`` folder, which works while they share a major version (4 or 5).

Imports nothing beyond the standard library.
"""
import importlib.metadata
import importlib.util
import warnings
from typing import Dict, List, Optional

#: The modules ssformer-mmseg runs on.
STACK_MODULES = ('mmseg', 'mmengine', 'mmcv')
#: How to install a stack (the README's installation matrix in short).
INSTALL_COMMANDS = (
    "upstream: pip install 'ssformer-mmseg[upstream,lite]'\n"
    "  maintained forks: pip install 'ssformer-mmseg[onedl]'\n"
    '  (the "Installation" matrix of the ssformer-mmseg README has the '
    'variants)')

#: Each OpenCV major version the package is tested on -> what to say of it.
OPENCV_MAJORS = {
    '4':
    'OpenCV 4, as pysodmetrics 1.6.2 asks',
    '5':
    "OpenCV 5, which works too (pip check then names pysodmetrics' "
    'opencv-python-headless<5)',
}


class StackConflictWarning(UserWarning):
    """Two installed distributions provide one module of the stack."""


def _top_level_modules(dist: importlib.metadata.Distribution) -> List[str]:
    """The top-level modules a distribution installs (its
    ``top_level.txt``, or the first part of each file it lists)."""
    text = dist.read_text('top_level.txt')
    if text:
        return text.split()
    return sorted({
        str(path).split('/')[0].split('.')[0]
        for path in (dist.files or []) if '/' in str(path)
    })


def providers(modules=STACK_MODULES) -> Dict[str, List[str]]:
    """Module -> the installed distributions that provide it, as
    ``name version``, each once, sorted."""
    found = {module: set() for module in modules}
    for dist in importlib.metadata.distributions():
        name = dist.metadata['Name']
        if not name:  # a broken leftover folder
            continue
        for module in _top_level_modules(dist):
            if module in found:
                found[module].add(f'{name} {dist.version}')
    return {module: sorted(names) for module, names in found.items()}


def missing(modules=STACK_MODULES) -> List[str]:
    """The modules of ``modules`` that cannot be imported."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def conflict_message(module: str, distributions: List[str]) -> str:
    """What to tell a user whose ``module`` comes from several
    distributions: which, and the commands that keep each one (the kept one
    is reinstalled, since uninstalling the other removes shared files)."""
    names = [d.split()[0] for d in distributions]
    keep = [
        f'  keep {name}: pip uninstall -y '
        f'{" ".join(n for n in names if n != name)} && '
        f'pip install --force-reinstall --no-deps "{name}=={version}"'
        for name, version in (d.split() for d in distributions)
    ]
    return (f'the module {module!r} is installed by {len(names)} '
            f'distributions: {", ".join(distributions)}; their files are '
            'mixed in one folder, and which one runs is unclear. Keep one:\n' +
            '\n'.join(keep))


def opencv_mix_message(distributions: List[str]) -> Optional[str]:
    """What to tell a user whose ``cv2`` comes from distributions of
    different major versions (None if they agree)."""
    majors = {d.split()[1].split('.')[0] for d in distributions}
    if len(majors) < 2:
        return None
    names = [d.split()[0] for d in distributions]
    keep = [
        f'  {said}: pip install ' +
        ' '.join(f'"{name}>={major},<{int(major) + 1}"' for name in names)
        for major, said in OPENCV_MAJORS.items()
    ]
    return (f'the module \'cv2\' is installed by {", ".join(distributions)}, '
            'of different major versions, into one folder: the mix is not a '
            'working OpenCV. Align them on one major version:\n' +
            '\n'.join(keep))


def check() -> None:
    """Fail on a missing module of the stack, warn on a module installed
    by several distributions (on ``cv2`` from distributions of different
    major versions).

    Raises:
        ModuleNotFoundError: Naming the missing modules and how to install
            a stack.
    """
    absent = missing()
    if absent:
        raise ModuleNotFoundError(
            f'ssformer-mmseg runs on mmseg, mmengine and mmcv, and '
            f'{", ".join(absent)} cannot be imported. Install one stack:\n'
            f'  {INSTALL_COMMANDS}',
            name=absent[0])
    found = providers((*STACK_MODULES, 'cv2'))
    messages = [
        conflict_message(module, found[module]) for module in STACK_MODULES
        if len(found[module]) > 1
    ]
    messages.append(opencv_mix_message(found['cv2']))
    for message in filter(None, messages):
        warnings.warn(message, StackConflictWarning, stacklevel=3)
