"""What a preparation run is asked to do, and the requests it refuses."""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from .sources import SETS

#: ``clinicdb_sequence_split`` without a path: find the README.
AUTO = 'auto'


@dataclass
class PrepareOptions:
    """One run of :func:`~.run.prepare`; the fields are the tool's
    options (``clinicdb_sequence_split`` is ``--clinicdb-sequence-split``).

    Args:
        kvasir, clinicdb, colondb, etis, cvc300 (str, optional): A set's
            extracted official download.
        pranet (str, optional): PraNet's TrainDataset/ + TestDataset/: all
            five sets and PraNet's split lists.
        split_dir (str, optional): A folder with
            ``{kvasir,clinicdb}_{train,test}.txt`` to check and write.
        clinicdb_sequence_split (str, optional): Also split CVC-ClinicDB by
            video sequence, from this README (:data:`AUTO`: the one of the
            ClinicDB download or of the prepared set).
        test_fraction (float): Share of ClinicDB frames for the sequence
            split's test side.
        seed (int): Seed choosing the test sequences.
        out (str): The data root written.
        link (str): ``'none'`` (copy), ``'hard'`` or ``'sym'``: how JPEG
            and PNG files are placed.
        overwrite (bool): Replace set and split folders that exist.
    """
    kvasir: Optional[str] = None
    clinicdb: Optional[str] = None
    colondb: Optional[str] = None
    etis: Optional[str] = None
    cvc300: Optional[str] = None
    pranet: Optional[str] = None
    split_dir: Optional[str] = None
    clinicdb_sequence_split: Optional[str] = None
    test_fraction: float = 0.1
    seed: int = 0
    out: str = 'data/polyp'
    link: str = 'none'
    overwrite: bool = False


def filled_sets(options: PrepareOptions) -> Dict[str, List[str]]:
    """Set folder -> the options that fill it."""
    filled: Dict[str, List[str]] = {}
    for polyp_set in SETS:
        for option in (polyp_set.key, 'pranet'):
            if getattr(options, option) is not None:
                filled.setdefault(polyp_set.folder, []).append(f'--{option}')
    return filled


def _sources_inside(options: PrepareOptions,
                    targets: Iterable[str]) -> List[str]:
    """Sources inside a folder this run replaces would be deleted."""
    clashes = []
    for option in [s.key for s in SETS] + ['pranet', 'split_dir']:
        source = getattr(options, option)
        if source is None:
            continue
        real = osp.realpath(source)
        for target in targets:
            target = osp.realpath(target)
            if real == target or real.startswith(target + os.sep):
                clashes.append(f'--{option.replace("_", "-")} {source} lies '
                               f'in {target}, which this run writes')
    return clashes


def option_error(options: PrepareOptions) -> Optional[str]:
    """Why a run cannot be done as asked (a usage error), or None.

    Refused: a set filled by two sources, ``pranet`` with ``split_dir``, a
    source inside a folder the run replaces, an ``out`` that is a file, and
    a run with nothing to do.
    """
    filled = filled_sets(options)
    clashes = [
        f'{folder} would come from both {" and ".join(given)}'
        for folder, given in filled.items() if len(given) > 1
    ]
    if options.pranet is not None and options.split_dir is not None:
        clashes.append('--pranet writes PraNet\'s split lists itself; drop '
                       '--split-dir')
    clashes += _sources_inside(options,
                               [osp.join(options.out, f) for f in filled] +
                               [osp.join(options.out, 'splits')])
    if clashes:
        return '; '.join(clashes)
    if osp.exists(options.out) and not osp.isdir(options.out):
        return f'--out {options.out} is not a folder'
    if not (filled or options.split_dir or options.clinicdb_sequence_split):
        return ('nothing to do: give at least one source, --split-dir or '
                '--clinicdb-sequence-split')
    return None
