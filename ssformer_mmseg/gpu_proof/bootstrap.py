"""The GPU proof's first step, before anything of this package can be
imported: what the machine has, and the bundle's wheels installed where
they are missing.

Standard library only: ``tools/gpu_proof/run.py`` loads this file by its
path, because ``import ssformer_mmseg`` needs the packages it installs.
Nothing is installed into the machine's own environment: the wheels go to
a folder of the work dir that this process and its children put on their
path.
"""
import importlib.metadata
import importlib.util
import json
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
from typing import Callable, Dict, List, Optional

#: The bundle's table of contents, at its root.
MANIFEST = 'manifest.json'
#: Modules the steps need that a bundle does not carry: large binary
#: wheels a CUDA PyTorch image ships. Module -> what to carry without it.
EXPECTED_MODULES = {
    'torch': 'a CUDA build of PyTorch',
    'numpy': 'numpy',
    'cv2': 'opencv-python-headless (mmcv and mmseg import cv2)',
    'scipy': 'scipy (pysodmetrics and the score intervals)',
    'matplotlib': 'matplotlib (mmengine\'s visualizer)',
    'PIL': 'pillow',
}


def read_manifest(bundle: str) -> dict:
    """The bundle's manifest.

    Raises:
        FileNotFoundError: Naming the folder and the builder.
    """
    path = osp.join(bundle, MANIFEST)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{bundle} is not a GPU-proof bundle (no {MANIFEST}); build one '
            'with tools/gpu_proof/build_bundle.py')
    with open(path) as f:
        return json.load(f)


def installed_version(distribution: str) -> Optional[str]:
    """The installed version of ``distribution``; None if it is not."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _command_output(command: List[str]) -> str:
    if shutil.which(command[0]) is None and not osp.isfile(command[0]):
        return f'{command[0]}: not found'
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f'{" ".join(command)}: {error}'
    return (result.stdout + result.stderr).strip()


def describe_machine(log: Callable[[str], None] = print) -> dict:
    """Log and return what the machine has: Python, ``pip list`` and
    ``nvidia-smi``."""
    facts = dict(
        python=sys.version.split()[0],
        executable=sys.executable,
        pip_list=_command_output(
            [sys.executable, '-m', 'pip', 'list', '--format=freeze']),
        nvidia_smi=_command_output(['nvidia-smi']))
    log(f'Python {facts["python"]} ({facts["executable"]})')
    log('pip list:\n' + facts['pip_list'])
    log('nvidia-smi:\n' + facts['nvidia_smi'])
    return facts


def use_site(folder: str) -> None:
    """Put ``folder`` first on this process's path (its ``.pth`` files
    read) and on its children's (``PYTHONPATH``)."""
    site.addsitedir(folder)
    sys.path.remove(folder)
    sys.path.insert(0, folder)
    paths = [folder] + [
        path
        for path in os.environ.get('PYTHONPATH', '').split(os.pathsep) if path
    ]
    os.environ['PYTHONPATH'] = os.pathsep.join(paths)
    importlib.invalidate_caches()


def install_missing(bundle: str,
                    target: str,
                    log: Callable[[str], None] = print) -> dict:
    """Install the bundle's wheels whose distributions are not installed,
    into ``target`` (put on the path by :func:`use_site`).

    A distribution already installed is kept whatever its version (the
    machine's own build stays); a wheel pip cannot install is reported and
    the others still go in.

    Returns:
        dict: ``installed`` (name -> version), ``present`` (name ->
        installed version, and the bundle's where they differ), ``failed``
        (name -> pip's last words) and ``missing_modules`` (module -> what
        to carry, for :data:`EXPECTED_MODULES` that cannot be imported).
    """
    manifest = read_manifest(bundle)
    os.makedirs(target, exist_ok=True)
    use_site(target)
    result = dict(installed={}, present={}, failed={}, missing_modules={})
    wanted = []
    for wheel in manifest['wheels']:
        version = installed_version(wheel['name'])
        if version is None:
            wanted.append(wheel)
        elif version == wheel['version']:
            result['present'][wheel['name']] = version
        else:
            result['present'][wheel['name']] = (
                f'{version} (bundle: {wheel["version"]}, not installed)')
    for wheel in wanted:
        command = [
            sys.executable, '-m', 'pip', 'install', '--quiet', '--no-index',
            '--no-deps', '--no-compile', '--disable-pip-version-check',
            '--target', target,
            osp.join(bundle, wheel['file'])
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            result['installed'][wheel['name']] = wheel['version']
        else:
            words = (done.stderr or done.stdout).strip().splitlines()
            result['failed'][wheel['name']] = words[-1] if words else \
                f'pip exited with {done.returncode}'
    importlib.invalidate_caches()
    for module, hint in EXPECTED_MODULES.items():
        if importlib.util.find_spec(module) is None:
            result['missing_modules'][module] = hint
    for name, version in result['installed'].items():
        log(f'installed {name} {version}')
    for name, version in result['present'].items():
        log(f'already there: {name} {version}')
    for name, words in result['failed'].items():
        log(f'could not install {name}: {words}')
    for module, hint in result['missing_modules'].items():
        log(f'missing and not in the bundle: {module}; the steps that need '
            f'it are skipped. Carry {hint} for Python '
            f'{sys.version_info.major}.{sys.version_info.minor}')
    return result


def data_root(bundle: Optional[str]) -> Optional[str]:
    """The bundle's data slice, or None (no bundle, or none in it)."""
    if not bundle:
        return None
    folder = osp.join(bundle, 'data')
    return folder if osp.isdir(folder) else None


def summary(result: Dict[str, dict]) -> str:
    """One line on what :func:`install_missing` did."""
    return (f'{len(result["installed"])} installed, '
            f'{len(result["present"])} already there, '
            f'{len(result["failed"])} failed, '
            f'{len(result["missing_modules"])} expected modules missing')
