"""A whole preparation run: find, pair and check every source, then write.

All problems of a run are collected and raised together
(:class:`PrepareError`), and then nothing is written: the sets are built in
a temporary folder under the output root and moved into place only when
everything passed. Existing set and split folders are only replaced with
``overwrite``.
"""
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from ...partial_outputs import is_dead_owner, owner_tag
from ..polyp_files import PolypFileError
from .options import PrepareOptions, option_error
from .pairing import SetPlan, plan_official, plan_pranet
from .sources import SETS, SETS_BY_KEY
from .splits import (PRANET_SPLITS, existing_stems, plan_sequence_split,
                     read_split_dir)
from .staging import (CommitUndoError, Report, SetResult, Track, commit,
                      report_nothing, stage_set, stage_splits, track_nothing)

#: Staging folders in the output folder: ``<prefix>-<host>-<pid>-...``.
STAGE_PREFIX = '.prepare'


class PrepareError(Exception):
    """A run that failed; ``problems`` name each file and what is wrong."""

    def __init__(self, problems: List[PolypFileError]):
        # A folder given for two sets would report each of its bad files
        # twice.
        unique: Dict[str, PolypFileError] = {}
        for problem in problems:
            unique.setdefault(str(problem), problem)
        self.problems = list(unique.values())
        super().__init__(f'{len(self.problems)} problem(s)')


def plan_sets(
    options: PrepareOptions,
    problems: List[PolypFileError],
    report: Report = report_nothing
) -> Tuple[List[SetPlan], Dict[str, List[str]]]:
    """Find and pair every source of a run.

    Reports ``"<set>: N pairs in <where>"`` per set.

    Returns:
        tuple: The set plans, in :data:`SETS` order, and PraNet's split
        lists when ``pranet`` gave all four.
    """
    plans: List[SetPlan] = []
    pranet_splits: Dict[str, List[str]] = {}
    for polyp_set in SETS:
        root = getattr(options, polyp_set.key)
        if root is not None:
            plan = plan_official(polyp_set, root, problems)
            plans += [plan] if plan else []
    if options.pranet is not None:
        pranet_plans, pranet_splits = plan_pranet(options.pranet, problems)
        plans += pranet_plans
    plans.sort(key=lambda p: SETS.index(p.polyp_set))
    read_by: Dict[str, str] = {}
    for plan in plans:
        report(f'{plan.polyp_set.folder}: {len(plan.pairs)} pairs in '
               f'{plan.origin}')
        other = read_by.setdefault(
            osp.realpath(plan.img_dir), plan.polyp_set.folder)
        if other != plan.polyp_set.folder:
            problems.append(
                PolypFileError(
                    plan.img_dir, f'would fill both {other} and '
                    f'{plan.polyp_set.folder}; check the source options'))
    complete = len(pranet_splits) == len(PRANET_SPLITS)
    return plans, pranet_splits if complete else {}


def plan_splits(
    options: PrepareOptions, plans: List[SetPlan],
    pranet_splits: Dict[str, List[str]], problems: List[PolypFileError]
) -> Tuple[Dict[str, Dict[str, List[str]]], Optional[str]]:
    """Collect the split lists a run writes, checked against the sets.

    Returns:
        tuple: Split folder name (``pranet``, ``clinicdb_sequence``) ->
        list name -> stems, and the line describing the sequence split.
    """
    set_stems: Dict[str, Optional[List[str]]] = {
        s.key: existing_stems(osp.join(options.out, s.folder))
        for s in SETS
    }
    set_stems.update(
        {p.polyp_set.key: [x.stem for x in p.pairs]
         for p in plans})
    split_lists: Dict[str, Dict[str, List[str]]] = {}
    if pranet_splits:
        split_lists['pranet'] = pranet_splits
    if options.split_dir is not None:
        for key in ('kvasir', 'clinicdb'):
            if set_stems[key] is None:
                problems.append(
                    PolypFileError(
                        osp.join(options.out, SETS_BY_KEY[key].folder),
                        f'not prepared, so --split-dir cannot be checked; '
                        f'give --{key} (or --pranet) too'))
        lists = read_split_dir(options.split_dir, set_stems, problems)
        if len(lists) == len(PRANET_SPLITS):
            split_lists['pranet'] = lists
    note = None
    if options.clinicdb_sequence_split is not None:
        sequence = plan_sequence_split(options, plans, set_stems['clinicdb'],
                                       problems)
        if sequence:
            split_lists['clinicdb_sequence'], note = sequence
    return split_lists, note


def _missing_folders(folder: str) -> List[str]:
    """``folder`` and those above it that do not exist, innermost first."""
    missing, folder = [], osp.abspath(folder)
    while not osp.exists(folder):
        missing.append(folder)
        folder = osp.dirname(folder)
    return missing


def prepare(options: PrepareOptions,
            report: Report = report_nothing,
            track: Track = track_nothing) -> List[SetResult]:
    """Run a preparation.

    Args:
        options (PrepareOptions): What to prepare, from where, to where.
        report (Callable): Receives the progress lines: pairs found and
            checked per set, and (after a successful run) the sequence
            split's test sequences.
        track (Callable): Wraps each set's pairs while they are checked
            (``track(pairs, set_folder)``), e.g. to show a counter.

    Returns:
        list: One result per set written or given split lists.

    Raises:
        ValueError: For options the tool refuses as a usage error
            (:func:`~.options.option_error`).
        PrepareError: With every problem found; nothing has been written.
        OSError: If writing failed (out of space, no permission); nothing
            has been written.
    """
    error = option_error(options)
    if error:
        raise ValueError(error)
    out = options.out
    problems: List[PolypFileError] = []
    plans, pranet_splits = plan_sets(options, problems, report)
    split_lists, sequence_note = plan_splits(options, plans, pranet_splits,
                                             problems)
    staged = [(p.polyp_set.folder, osp.join(out, p.polyp_set.folder))
              for p in plans]
    staged += [(osp.join('splits', name), osp.join(out, 'splits', name))
               for name in split_lists]
    for _, target in staged:
        if osp.lexists(target) and not options.overwrite:
            problems.append(
                PolypFileError(
                    target, 'already exists; pass --overwrite to replace it '
                    '(left untouched)'))

    created = _missing_folders(out)
    os.makedirs(out, exist_ok=True)
    remove_dead_stages(out, report)
    # Beside the targets, so that moving a finished folder is one rename;
    # named after this process, so a later run can remove it if it dies.
    stage = tempfile.mkdtemp(prefix=f'{STAGE_PREFIX}-{owner_tag()}-', dir=out)
    committed = keep_stage = False
    try:
        results = {
            p.polyp_set.folder:
            stage_set(p, osp.join(stage, p.polyp_set.folder), options.link,
                      problems, report, track)
            for p in plans
        }
        stage_splits(stage, split_lists, results)
        if problems:
            raise PrepareError(problems)
        trash = osp.join(stage, 'replaced')
        os.makedirs(trash)
        try:
            commit([(osp.join(stage, name), target)
                    for name, target in staged], trash)
        except CommitUndoError:
            keep_stage = True  # it holds the sets the commit replaced
            raise
        committed = True
    finally:
        if not keep_stage:
            shutil.rmtree(stage, ignore_errors=True)
        if not committed:
            for folder in created:
                if osp.isdir(folder) and not os.listdir(folder):
                    os.rmdir(folder)
    if sequence_note:
        report(sequence_note)
    return [results[s.folder] for s in SETS if s.folder in results]


def remove_dead_stages(out: str, report: Report = report_nothing) -> None:
    """Remove the staging folders that killed runs left in ``out``; one
    that holds replaced sets (killed while committing) is kept and named."""
    for name in sorted(os.listdir(out)):
        folder = osp.join(out, name)
        if not (name.startswith(STAGE_PREFIX + '-')
                and is_dead_owner(name, STAGE_PREFIX)):
            continue
        replaced = osp.join(folder, 'replaced')
        if osp.isdir(replaced) and os.listdir(replaced):
            report(f'{folder}: left by a killed run, holds sets it had '
                   'replaced (kept; move them back by hand)')
        else:
            shutil.rmtree(folder, ignore_errors=True)


def summary_table(results: Sequence[SetResult]) -> str:
    """The closing table: one row per set."""
    header = ('set', 'pairs', 'copied', 'linked', 'converted',
              'split lists (train/test)')
    rows = [header] + [(r.folder, str(r.pairs) if r.pairs else '-',
                        str(r.copied), str(r.linked), str(
                            r.converted), ', '.join(r.splits) or '-')
                       for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return '\n'.join(
        '  '.join([row[0].ljust(widths[0])] +
                  [c.rjust(w)
                   for c, w in zip(row[1:5], widths[1:])] + [row[5]])
        for row in rows)
