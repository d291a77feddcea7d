"""What the GPU machine lacks, packed into one folder under the size a
leased machine accepts: the wheels of the OpenMMLab stack and this package
for its Python, and a slice of the PraNet data.

The bundle carries the OpenMMLab stack, pysodmetrics and the small
pure-Python packages they import; the large binary packages (PyTorch,
NumPy, SciPy, OpenCV, Matplotlib, Pillow) are expected on a CUDA PyTorch
machine, and the proof names any that is missing
(:data:`~ssformer_mmseg.gpu_proof.bootstrap.EXPECTED_MODULES`). Each
carried distribution is pinned to the version installed here, the stack
the test suite passed on.
"""
import datetime
import glob
import importlib.metadata
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

from ..datasets.polyp import CVCClinicDBDataset, KvasirSEGDataset
from ..datasets.polyp_files import read_split_file, scan_image_folder
from ..messages import quiet
from ..packaged import PACKAGE_DIR
from .bootstrap import EXPECTED_MODULES, MANIFEST

#: Distributions the bundle carries besides this package.
CARRIED = ('mmengine', 'mmcv-lite', 'mmsegmentation', 'pysodmetrics', 'addict',
           'yapf', 'platformdirs', 'termcolor', 'prettytable', 'wcwidth',
           'ftfy', 'regex', 'rich', 'markdown-it-py', 'mdurl', 'pygments',
           'pyyaml', 'importlib-metadata', 'tomli')
#: Versions carried whatever is installed here: yapf before 0.40 imports
#: lib2to3, which Python 3.12 no longer has (seen on the first GPU run);
#: 0.40.2 needs importlib-metadata and tomli.
PINNED = {'yapf': '0.40.2', 'importlib-metadata': '8.7.0', 'tomli': '2.2.1'}
#: The platforms pip may pick binary wheels for (x86-64 Linux).
PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_27_x86_64',
             'manylinux_2_17_x86_64', 'manylinux2014_x86_64',
             'manylinux1_x86_64')
#: The PraNet sets at hand: dataset class, split-list prefix.
DATASETS = ((KvasirSEGDataset, 'kvasir'), (CVCClinicDBDataset, 'clinicdb'))
MIB = 2**20


@dataclass
class BundleSpec:
    """What :func:`build_bundle` packs.

    Attributes:
        out (str): The bundle folder (emptied first).
        data_root (str, optional): PraNet-layout data to slice (``kvasir-seg``
            and ``cvc-clinicdb`` with ``splits/pranet``); None: no data.
        train_pairs (dict): Training pairs per split prefix (``'kvasir'``,
            ``'clinicdb'``), a seeded sample; every test pair is carried.
        budget_mib (float): Size the bundle must stay under.
        python_version (str): The GPU machine's Python.
        versions (dict): Distribution -> version overrides (default: the
            versions installed here).
        find_links (str, optional): A folder of wheels to take them from
            instead of the package index (offline builds, tests).
        package_wheel (bool): Build and carry this package's wheel.
        seed (int): Seed of the training-pair sample.
    """
    out: str
    data_root: Optional[str] = None
    train_pairs: Dict[str, int] = None
    budget_mib: float = 56.0
    python_version: str = '3.12'
    versions: Dict[str, str] = None
    find_links: Optional[str] = None
    package_wheel: bool = True
    seed: int = 0


def carried_versions(
        overrides: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Each carried distribution's version: the override, else its
    :data:`PINNED` version, else the one installed here.

    Raises:
        RuntimeError: Naming every carried distribution with neither.
    """
    overrides = dict(overrides or {})
    versions, unknown = {}, []
    for name in CARRIED:
        try:
            versions[name] = overrides.pop(
                name,
                None) or PINNED.get(name) or importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            unknown.append(name)
    if unknown:
        raise RuntimeError(
            f'not installed here, so no version to carry: {", ".join(unknown)}'
            '; install them (make install) or name versions '
            '(--version NAME==VERSION)')
    return dict(versions, **overrides)


def download_wheels(versions: Dict[str, str], folder: str, python_version: str,
                    find_links: Optional[str]) -> None:
    """pip download, no dependencies, binary wheels for ``python_version``
    on x86-64 Linux.

    Raises:
        RuntimeError: With pip's own words.
    """
    command = [
        sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps',
        '--only-binary=:all:', '--disable-pip-version-check',
        '--python-version', python_version, '--implementation', 'cp', '-d',
        folder
    ]
    for platform in PLATFORMS:
        command += ['--platform', platform]
    if find_links:
        command += ['--no-index', '--find-links', find_links]
    command += [f'{name}=={version}' for name, version in versions.items()]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError('pip could not download the wheels for Python '
                           f'{python_version}:\n{done.stderr.strip()}')


def build_package_wheel(folder: str) -> None:
    """This package's wheel (configs and tools in ``.mim``), built from the
    checkout it is imported from.

    Raises:
        RuntimeError: Outside a checkout, or with pip's own words.
    """
    root = osp.dirname(PACKAGE_DIR)
    if not osp.isfile(osp.join(root, 'pyproject.toml')):
        raise RuntimeError(f'{root} is not a checkout of ssformer-mmseg: '
                           'build the bundle from a clone')
    done = subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
        '--no-build-isolation', '--disable-pip-version-check', '-w', folder,
        root
    ],
                          capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError('building the ssformer-mmseg wheel failed:\n'
                           f'{done.stderr.strip()}')


def wheel_identity(path: str) -> Dict[str, str]:
    """A wheel's distribution name and version, from its metadata."""
    with zipfile.ZipFile(path) as archive:
        metadata = next(
            name for name in archive.namelist()
            if name.count('/') == 1 and name.endswith('.dist-info/METADATA'))
        fields = {}
        for line in archive.read(metadata).decode().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(':')
            fields.setdefault(key.strip(), value.strip())
    return dict(name=fields['Name'], version=fields['Version'])


def folder_mib(folder: str) -> float:
    """Size of the files under ``folder``, MiB."""
    return sum(
        osp.getsize(path)
        for path in glob.glob(osp.join(folder, '**'), recursive=True)
        if osp.isfile(path)) / MIB


def _pair_files(data_root: str, dataset) -> Dict[str, tuple]:
    """Stem -> (image, mask) file names of one set."""
    images = scan_image_folder(osp.join(data_root, dataset.FOLDER,
                                        'images')).files
    masks = scan_image_folder(
        osp.join(data_root, dataset.FOLDER, 'masks'), 'mask').files
    return {
        stem: (name, masks[stem])
        for stem, name in images.items() if stem in masks
    }


def slice_data(spec: BundleSpec, folder: str, room_mib: float,
               log: Callable[[str], None]) -> dict:
    """Copy every test pair and a seeded sample of training pairs of each
    set at hand into ``folder`` (same layout), within ``room_mib``; the
    PraNet split lists are rewritten to list the carried pairs.

    Returns:
        dict: Per split list (``'kvasir_train'``), the pairs carried.

    Raises:
        RuntimeError: If the test pairs alone do not fit, or a split lists
            a pair that is not in the data.
    """
    used, carried = 0.0, {}
    split_dir = osp.join(folder, 'splits', 'pranet')
    os.makedirs(split_dir, exist_ok=True)
    plan = []
    for dataset, prefix in DATASETS:
        pairs = _pair_files(spec.data_root, dataset)
        for part in ('test', 'train'):
            split = osp.join(spec.data_root, 'splits', 'pranet',
                             f'{prefix}_{part}.txt')
            stems = list(read_split_file(split))
            lacking = [stem for stem in stems if stem not in pairs]
            if lacking:
                raise RuntimeError(f'{split} lists {len(lacking)} pairs '
                                   f'missing from the data, e.g. {lacking[0]}')
            if part == 'train':
                wanted = (spec.train_pairs or {}).get(prefix, 0)
                stems = sorted(
                    random.Random(spec.seed).sample(stems,
                                                    min(wanted, len(stems))))
            plan.append((dataset, prefix, part, stems, pairs))
    # Test pairs first (all of them), then training pairs while they fit.
    plan.sort(key=lambda item: item[2] != 'test')
    for dataset, prefix, part, stems, pairs in plan:
        kept = []
        for stem in stems:
            sources = [
                osp.join(spec.data_root, dataset.FOLDER, sub, name)
                for sub, name in zip(('images', 'masks'), pairs[stem])
            ]
            size = sum(osp.getsize(path) for path in sources) / MIB
            if used + size > room_mib:
                if part == 'test':
                    raise RuntimeError(
                        f'the {prefix} test pairs alone do not fit in '
                        f'{room_mib:.1f} MiB: raise --budget-mib')
                break
            for source, sub in zip(sources, ('images', 'masks')):
                target = osp.join(folder, dataset.FOLDER, sub)
                os.makedirs(target, exist_ok=True)
                shutil.copyfile(source, osp.join(target, osp.basename(source)))
            used += size
            kept.append(stem)
        with open(osp.join(split_dir, f'{prefix}_{part}.txt'), 'w') as f:
            f.write(''.join(f'{stem}\n' for stem in kept))
        carried[f'{prefix}_{part}'] = len(kept)
        if len(kept) < len(stems):
            log(f'{prefix} {part}: {len(kept)} of {len(stems)} pairs fit '
                'in the budget')
    return carried


def build_bundle(spec: BundleSpec, log: Callable[[str], None] = quiet) -> dict:
    """Build the bundle folder ``spec.out``: ``wheels/``, ``data/`` and
    ``manifest.json``. Returns the manifest.

    Raises:
        RuntimeError: For a wheel pip cannot get, a bundle over budget, or
            data that does not fit.
    """
    if osp.isdir(spec.out):
        shutil.rmtree(spec.out)
    wheels = osp.join(spec.out, 'wheels')
    os.makedirs(wheels)
    versions = carried_versions(spec.versions)
    log(f'downloading {len(versions)} wheels for Python '
        f'{spec.python_version}')
    download_wheels(versions, wheels, spec.python_version, spec.find_links)
    if spec.package_wheel:
        log('building the ssformer-mmseg wheel')
        with tempfile.TemporaryDirectory() as built:
            build_package_wheel(built)
            for path in glob.glob(osp.join(built, '*.whl')):
                shutil.move(path, wheels)
    entries = []
    for path in sorted(glob.glob(osp.join(wheels, '*.whl'))):
        entries.append(
            dict(
                wheel_identity(path),
                file=osp.relpath(path, spec.out),
                mib=round(osp.getsize(path) / MIB, 3)))
    wheels_mib = folder_mib(wheels)
    if wheels_mib > spec.budget_mib:
        raise RuntimeError(f'the wheels alone take {wheels_mib:.1f} MiB, '
                           f'over the {spec.budget_mib} MiB budget')
    data = {}
    if spec.data_root:
        log(f'slicing {spec.data_root}')
        data = slice_data(spec, osp.join(spec.out, 'data'),
                          spec.budget_mib - wheels_mib - 0.1, log)
    manifest = dict(
        built=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        python_version=spec.python_version,
        wheels=entries,
        expected_modules=EXPECTED_MODULES,
        data=data,
        mib=dict(
            wheels=round(wheels_mib, 2),
            data=round(folder_mib(osp.join(spec.out, 'data')), 2)
            if data else 0.0))
    with open(osp.join(spec.out, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=2)
    log(f'{spec.out}: {len(entries)} wheels ({manifest["mib"]["wheels"]} '
        f'MiB), data {manifest["mib"]["data"]} MiB '
        f'({", ".join(f"{k} {v}" for k, v in data.items()) or "none"})')
    return manifest


def parse_versions(pins: Sequence[str]) -> Dict[str, str]:
    """``['mmengine==0.10.7']`` -> ``{'mmengine': '0.10.7'}``.

    Raises:
        ValueError: For a pin without ``==``.
    """
    versions = {}
    for pin in pins:
        name, sep, version = pin.partition('==')
        if not sep or not name or not version:
            raise ValueError(f'expected NAME==VERSION, got {pin!r}')
        versions[name.strip()] = version.strip()
    return versions


__all__ = [
    'BundleSpec', 'build_bundle', 'carried_versions', 'parse_versions',
    'CARRIED'
]
