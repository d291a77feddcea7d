"""Polyp data preparation on synthetic downloads in their real layouts.

Most tests call :func:`ssformer_mmseg.datasets.preparation.prepare`
in-process; those of the command line (exit codes, usage errors, the printed
summary and report) run ``tools/prepare_polyp_data.py`` as a command.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ssformer_mmseg.datasets import (CVC300Dataset, CVCClinicDBDataset,
                                     CVCColonDBDataset,
                                     ETISLaribPolypDBDataset, KvasirSEGDataset)
from ssformer_mmseg.datasets import preparation as prep
from ssformer_mmseg.datasets.polyp_files import PolypFileError

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO_ROOT, 'tools', 'prepare_polyp_data.py')
REAL_README = osp.join(REPO_ROOT, '..', 'shared', 'data', 'cvc-clinicdb',
                       'README.txt')

# Our own frame -> sequence table, in the messy style of CVC-ClinicDB's
# README (tabs and spaces mixed, a row indented by a tab, header rows with
# tabs), covering frames 1..612 in 12 sequences.
SEQUENCES = {
    1: (1, 40),
    2: (41, 95),
    3: (96, 130),
    4: (131, 200),
    5: (201, 251),
    6: (252, 300),
    7: (301, 352),
    8: (353, 410),
    9: (411, 460),
    10: (461, 515),
    11: (516, 570),
    12: (571, 612)
}
SAMPLE_README = (
    'CVC-ClinicDB\n\nThe correspondence between the number of frame and the '
    'video sequence is as follows: \n\n'
    '       ----------------------------------\n'
    '       |                  |\t\t           |\n'
    '       |   Frame Number   |  Sequence\t      |\n'
    '       ----------------------------------\n'
    '       |\t\t          |\t|\n'
    '       |      1 to  40    |\t 1\t|\n'
    '       |     41 to  95    |\t 2   |\n'
    '       |     96 to 130    |\t 3 \t|\n'
    '       |    131 to 200    | 4\t|\n'
    '       |    201 to 251    |\t 5\t|\n'
    '       |    252 to 300    |6 \t|\n'
    '\t  |    301 to 352    |7\t|\n'
    '       |    353 to 410    |\t 8   |\n'
    '       |    411 to 460    |\t9\t|\n'
    '       |    461 to 515    |10\t|\n'
    '       |    516 to 570    |\t11 \t|\n'
    '       |    571 to 612    |\t12\t|   \n'
    '       ----------------------------------\n\n'
    'Images from folder \'Original\' are property of Hospital Clinic.\n')


def frame(height=32, width=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def disk(height=32, width=40):
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (width // 2, height // 2),
               min(height, width) // 4, 255, -1)
    return mask


def write(path, array):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), array), path


def write_pairs(img_dir,
                mask_dir,
                stems,
                img_ext,
                mask_ext=None,
                mask_prefix='',
                size=(32, 40)):
    for i, stem in enumerate(stems):
        write(osp.join(img_dir, f'{stem}{img_ext}'), frame(*size, seed=i))
        write(
            osp.join(mask_dir, f'{mask_prefix}{stem}{mask_ext or img_ext}'),
            disk(*size))


def make_kvasir(base, stems=('cju1a', 'cju2b', 'cju3c')):
    """Kvasir-SEG as unzipped into a folder of its name: nested twice."""
    root = osp.join(base, 'Kvasir-SEG')
    data = osp.join(root, 'Kvasir-SEG')
    write_pairs(
        osp.join(data, 'images'), osp.join(data, 'masks'), stems, '.jpg')
    with open(osp.join(data, 'kavsir_bboxes.json'), 'w') as file:
        file.write('{}')
    return root


def make_clinicdb(base, frames=(1, 2, 10), readme=SAMPLE_README):
    """CVC-ClinicDB's original download: TIFF in Original/, Ground Truth/."""
    root = osp.join(base, 'CVC-ClinicDB')
    write_pairs(
        osp.join(root, 'Original'), osp.join(root, 'Ground Truth'), frames,
        '.tif')
    if readme:
        with open(osp.join(root, 'README.txt'), 'w') as file:
            file.write(readme)
    return root


def make_colondb(base, frames=(1, 2)):
    root = osp.join(base, 'CVC-ColonDB')
    write_pairs(
        osp.join(root, 'images'), osp.join(root, 'masks'), frames, '.tiff')
    return root


def make_etis(base, frames=(1, 2)):
    """ETIS-LaribPolypDB: N.tif, ground truth pN.tif."""
    root = osp.join(base, 'ETIS-LaribPolypDB')
    write_pairs(
        osp.join(root, 'ETIS-LaribPolypDB'),
        osp.join(root, 'Ground Truth'),
        frames,
        '.tif',
        mask_prefix='p')
    return root


def make_cvc300(base, frames=(150, 151)):
    root = osp.join(base, 'CVC-300')
    write_pairs(
        osp.join(root, 'images'), osp.join(root, 'masks'), frames, '.bmp')
    return root


PRANET_TRAIN = ('cjk1', 'cjk2', '2', '10')
PRANET_TEST = {
    'Kvasir': ('cjt1', ),
    'CVC-ClinicDB': ('3', '25'),
    'CVC-ColonDB': ('1', ),
    'ETIS-LaribPolypDB': ('5', ),
    'CVC-300': ('160', )
}


def make_pranet(base):
    """PraNet's TrainDataset (Kvasir + ClinicDB mixed) and TestDataset."""
    root = osp.join(base, 'PraNet')
    write_pairs(
        osp.join(root, 'TrainDataset', 'image'),
        osp.join(root, 'TrainDataset', 'mask'), PRANET_TRAIN, '.png')
    for name, stems in PRANET_TEST.items():
        folder = osp.join(root, 'TestDataset', name)
        write_pairs(
            osp.join(folder, 'images'), osp.join(folder, 'masks'), stems,
            '.png')
    return root


def run(*argv, cwd=REPO_ROOT):
    """Run the tool as a command: (exit code, stdout, stderr)."""
    result = subprocess.run([sys.executable, TOOL, *map(str, argv)],
                            cwd=cwd,
                            capture_output=True,
                            text=True,
                            timeout=300)
    return result.returncode, result.stdout, result.stderr


def options(out, **given):
    """The run of ``prepare`` writing to ``out``: paths as the tool's
    command line gives them (strings)."""
    return prep.PrepareOptions(
        out=str(out),
        **{
            k: str(v) if isinstance(v, os.PathLike) else v
            for k, v in given.items()
        })


def prepare(out, **given):
    """Prepare in-process: (summary table, reported progress lines)."""
    lines = []
    results = prep.prepare(options(out, **given), report=lines.append)
    return prep.summary_table(results), '\n'.join(lines)


def problems(out, **given):
    """The report of an in-process run that must fail: one problem a line."""
    with pytest.raises(prep.PrepareError) as failed:
        prep.prepare(options(out, **given))
    return '\n'.join(str(p) for p in failed.value.problems)


def tree(root):
    """Every file and link under ``root`` (hidden ones included)."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in files + [
                d for d in dirs if osp.islink(osp.join(folder, d))
        ]:
            found.add(osp.relpath(osp.join(folder, name), root))
    return found


def layout(folder, stems, img_ext, mask_ext=None):
    return {f'{folder}/images/{s}{img_ext}'
            for s in stems
            } | {f'{folder}/masks/{s}{mask_ext or img_ext}'
                 for s in stems}


def read_list(path):
    with open(path) as file:
        return file.read().splitlines()


def assert_nothing_written(out):
    """No output, no temporary folder: ``out`` is gone or as it was."""
    assert not osp.exists(out) or os.listdir(out) == []


@pytest.mark.subprocess
def test_official_downloads_give_the_standard_layout(tmp_path):
    src, out = tmp_path / 'downloads', tmp_path / 'out'
    code, stdout, _ = run('--kvasir', make_kvasir(src), '--clinicdb',
                          make_clinicdb(src),
                          '--colondb', make_colondb(src), '--etis',
                          make_etis(src), '--cvc300', make_cvc300(src),
                          '--out', out)
    assert code == 0
    assert tree(out) == (
        layout('kvasir-seg', ('cju1a', 'cju2b', 'cju3c'), '.jpg')
        | layout('cvc-clinicdb', (1, 2, 10), '.png')
        | {'cvc-clinicdb/README.txt'}
        | layout('cvc-colondb', (1, 2), '.png')
        | layout('etis-laribpolypdb', (1, 2), '.png')
        | layout('cvc-300', (150, 151), '.png'))
    kvasir = osp.join(src, 'Kvasir-SEG', 'Kvasir-SEG')
    for sub in ('images', 'masks'):
        with open(osp.join(kvasir, sub, 'cju2b.jpg'),
                  'rb') as a, open(out / 'kvasir-seg' / sub / 'cju2b.jpg',
                                   'rb') as b:
            assert a.read() == b.read()
    tif = cv2.imread(osp.join(src, 'CVC-ClinicDB', 'Original', '10.tif'))
    png = cv2.imread(
        str(out / 'cvc-clinicdb' / 'images' / '10.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png, tif)
    gt = cv2.imread(
        osp.join(src, 'ETIS-LaribPolypDB', 'Ground Truth', 'p2.tif'),
        cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(
        str(out / 'etis-laribpolypdb' / 'masks' / '2.png'),
        cv2.IMREAD_UNCHANGED)
    assert mask.ndim == 2 and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, (gt > 127) * 255)
    assert re.search(r'kvasir-seg\s+3\s+6\s+0\s+0\s+-', stdout)
    assert re.search(r'cvc-clinicdb\s+3\s+0\s+0\s+6\s+-', stdout)
    assert re.search(r'^kvasir-seg: 3 pairs in .*Kvasir-SEG/images \+ ',
                     stdout, re.MULTILINE)
    assert re.search(r'^etis-laribpolypdb: 2 pairs checked, 0 problem\(s\)$',
                     stdout, re.MULTILINE)
    assert f'written to {out}\n' in stdout
    assert 'No PraNet split lists were written' in stdout
    for dataset, count in ((KvasirSEGDataset, 3), (CVCClinicDBDataset, 3),
                           (CVCColonDBDataset, 2), (ETISLaribPolypDBDataset,
                                                    2), (CVC300Dataset, 2)):
        assert len(dataset(data_root=str(out), pipeline=[])) == count


def test_clinicdb_png_variant_is_preferred_and_kept(tmp_path):
    root = tmp_path / 'CVC-ClinicDB'
    write_pairs(root / 'PNG' / 'Original', root / 'PNG' / 'Ground Truth',
                (1, 2), '.png')
    write_pairs(root / 'TIF' / 'Original', root / 'TIF' / 'Ground Truth',
                (1, 2), '.tif')
    table, _ = prepare(tmp_path / 'out', clinicdb=tmp_path)
    assert tree(tmp_path / 'out') == layout('cvc-clinicdb', (1, 2), '.png')
    assert (tmp_path / 'out' / 'cvc-clinicdb' / 'masks' /
            '2.png').read_bytes() == (root / 'PNG' / 'Ground Truth' /
                                      '2.png').read_bytes()
    assert re.search(r'cvc-clinicdb\s+2\s+4\s+0\s+0', table)


def test_names_case_suffixes_and_hidden_files(tmp_path):
    """Folder names in any case/spelling, .JPEG, stems paired ignoring
    case, files named by content, system files ignored."""
    root = tmp_path / 'kvasir'
    write(str(root / 'IMAGES' / 'Abc.JPEG'), frame())
    write(str(root / 'Masks' / 'abc.png'), disk())
    # A PNG that calls itself .jpg is kept as the PNG it is.
    write(str(root / 'IMAGES' / 'def.png'), frame(seed=1))
    os.rename(root / 'IMAGES' / 'def.png', root / 'IMAGES' / 'def.jpg')
    write(str(root / 'Masks' / 'def.png'), disk())
    for hidden in ('.DS_Store', 'Thumbs.db', '._Abc.JPEG'):
        (root / 'IMAGES' / hidden).write_bytes(b'junk')
    (root / '__MACOSX').mkdir()
    ground_truth = tmp_path / 'etis' / 'ground_truth'
    write_pairs(
        tmp_path / 'etis' / 'etis-laribpolypdb',
        ground_truth, (7, ),
        '.tif',
        mask_prefix='P')
    prepare(tmp_path / 'out', kvasir=root, etis=tmp_path / 'etis')
    assert tree(tmp_path / 'out') == {
        'kvasir-seg/images/Abc.jpg', 'kvasir-seg/masks/Abc.png',
        'kvasir-seg/images/def.png', 'kvasir-seg/masks/def.png'
    } | layout('etis-laribpolypdb', (7, ), '.png')


@pytest.mark.subprocess
def test_pranet_fills_all_sets_and_writes_its_split_lists(tmp_path):
    out = tmp_path / 'out'
    code, stdout, _ = run('--pranet', make_pranet(tmp_path), '--out', out)
    assert code == 0
    assert tree(out) == (
        layout('kvasir-seg', ('cjk1', 'cjk2', 'cjt1'), '.png')
        | layout('cvc-clinicdb', (2, 3, 10, 25), '.png')
        | layout('cvc-colondb', (1, ), '.png')
        | layout('etis-laribpolypdb', (5, ), '.png')
        | layout('cvc-300', (160, ), '.png')
        | {f'splits/pranet/{s}.txt'
           for s in prep.PRANET_SPLITS})
    lists = {
        s: read_list(out / 'splits' / 'pranet' / f'{s}.txt')
        for s in prep.PRANET_SPLITS
    }
    assert lists == {
        'kvasir_train': ['cjk1', 'cjk2'],
        'kvasir_test': ['cjt1'],
        'clinicdb_train': ['2', '10'],
        'clinicdb_test': ['3', '25']
    }
    assert re.search(r'cvc-clinicdb\s+4\s+8\s+0\s+0\s+pranet 2/2', stdout)
    assert 'No PraNet split lists' not in stdout
    train = KvasirSEGDataset(
        data_root=str(out),
        pipeline=[],
        ann_file='splits/pranet/kvasir_train.txt')
    assert len(train) == 2


def test_pranet_frame_in_train_and_test_is_reported(tmp_path):
    root = make_pranet(tmp_path)
    test = osp.join(root, 'TestDataset', 'Kvasir')
    write_pairs(
        osp.join(test, 'images'), osp.join(test, 'masks'), ('cjk2', ), '.png')
    err = problems(tmp_path / 'out', pranet=root)
    assert re.search(
        r'TrainDataset/image/cjk2\.png: is in TrainDataset and '
        r'in .*TestDataset/Kvasir', err)
    assert_nothing_written(tmp_path / 'out')


def test_pranet_missing_test_folder_is_reported(tmp_path):
    root = make_pranet(tmp_path)
    os.rename(
        osp.join(root, 'TestDataset', 'CVC-300'),
        osp.join(root, 'TestDataset', 'other'))
    err = problems(tmp_path / 'out', pranet=root)
    assert 'TestDataset: no cvc-300 test folder' in err
    assert_nothing_written(tmp_path / 'out')


@pytest.mark.parametrize('mode', ['hard', 'sym'])
def test_link_modes_link_jpeg_and_png_and_convert_the_rest(
        tmp_path, monkeypatch, mode):
    monkeypatch.chdir(tmp_path)  # relative sources must still link right
    kvasir, etis = make_kvasir('.'), make_etis('.')
    out = tmp_path / 'out'
    table, _ = prepare('out', kvasir=kvasir, etis=etis, link=mode)
    source = osp.join(kvasir, 'Kvasir-SEG', 'masks', 'cju1a.jpg')
    linked = str(out / 'kvasir-seg' / 'masks' / 'cju1a.jpg')
    assert osp.samefile(linked, source)
    if mode == 'hard':
        assert not osp.islink(linked)
        assert os.stat(source).st_nlink == 2
    else:
        assert os.readlink(linked) == osp.abspath(source)
    converted = str(out / 'etis-laribpolypdb' / 'images' / '1.png')
    assert not osp.islink(converted) and os.stat(converted).st_nlink == 1
    assert re.search(r'kvasir-seg\s+3\s+0\s+6\s+0', table)
    assert re.search(r'etis-laribpolypdb\s+2\s+0\s+0\s+4', table)


def write_split_dir(folder, **lists):
    lists = {
        'kvasir_train': 'cju1a\ncju2b\n',
        'kvasir_test': 'cju3c\n',
        'clinicdb_train': '10\n1\n',
        'clinicdb_test': '2.tif\r\n',
        **lists
    }
    os.makedirs(folder)
    for name, text in lists.items():
        if text is not None:
            with open(
                    osp.join(folder, f'{name}.txt'), 'w', newline='') as file:
                file.write(text)
    return folder


def test_split_dir_is_checked_and_written_sorted(tmp_path):
    out = tmp_path / 'out'
    table, _ = prepare(
        out,
        kvasir=make_kvasir(tmp_path),
        clinicdb=make_clinicdb(tmp_path),
        split_dir=write_split_dir(tmp_path / 'lists'))
    assert read_list(out / 'splits' / 'pranet' /
                     'clinicdb_train.txt') == ['1', '10']
    assert read_list(out / 'splits' / 'pranet' / 'clinicdb_test.txt') == ['2']
    assert 'pranet 2/1' in table


def test_split_dir_alone_uses_the_prepared_sets(tmp_path):
    out = tmp_path / 'out'
    prepare(
        out, kvasir=make_kvasir(tmp_path), clinicdb=make_clinicdb(tmp_path))
    before = tree(out)
    prepare(out, split_dir=write_split_dir(tmp_path / 'lists'))
    assert tree(out) == before | {
        f'splits/pranet/{s}.txt'
        for s in prep.PRANET_SPLITS
    }


@pytest.mark.parametrize('lists, message', [
    (dict(kvasir_test='cju3c\nnope\n'),
     r"kvasir_test\.txt: stems not in kvasir-seg: 'nope' \(line 2\)"),
    (dict(kvasir_train='cju1a\ncju2b\ncju1a\n'),
     r"kvasir_train\.txt: stem 'cju1a' on lines 1 and 3"),
    (dict(clinicdb_test='2\n10\n'),
     r"clinicdb_test\.txt: stem '10' \(line 2\) is also in "
     r".*clinicdb_train\.txt \(line 1\)"),
    (dict(clinicdb_train=None), r'clinicdb_train\.txt: split list missing'),
    (dict(kvasir_test='\n\n'), r'kvasir_test\.txt: split file lists no stems'),
])
def test_split_dir_errors_name_the_list_and_stem(tmp_path, lists, message):
    err = problems(
        tmp_path / 'out',
        kvasir=make_kvasir(tmp_path),
        clinicdb=make_clinicdb(tmp_path),
        split_dir=write_split_dir(tmp_path / 'lists', **lists))
    assert re.search(message, err), err
    assert_nothing_written(tmp_path / 'out')


def test_split_dir_without_the_sets_is_an_error(tmp_path):
    err = problems(
        tmp_path / 'out',
        kvasir=make_kvasir(tmp_path),
        split_dir=write_split_dir(tmp_path / 'lists'))
    assert re.search(r'out/cvc-clinicdb: not prepared, so --split-dir', err)
    assert_nothing_written(tmp_path / 'out')


def test_parse_sequence_table_in_the_messy_readme_format():
    sequences = prep.parse_sequence_table(SAMPLE_README, 'README.txt')
    assert {s: (f[0], f[-1]) for s, f in sequences.items()} == SEQUENCES
    assert sorted(f for fs in sequences.values()
                  for f in fs) == list(range(1, 613))


@pytest.mark.skipif(
    not osp.isfile(REAL_README),
    reason='real CVC-ClinicDB README not available')
def test_parse_sequence_table_of_the_real_readme():
    with open(REAL_README, encoding='latin-1') as file:
        sequences = prep.parse_sequence_table(file.read(), REAL_README)
    assert len(sequences) == 29
    assert (sequences[2][0], sequences[2][-1]) == (26, 50)
    assert (sequences[27][0], sequences[27][-1]) == (547, 571)


@pytest.mark.parametrize('change, message', [
    (('41 to  95', '42 to  95'), 'row "42 to 95" does not start at frame 41'),
    (('41 to  95', '40 to  95'), 'row "40 to 95" does not start at frame 41'),
    (('571 to 612', '571 to 611'), 'ends at frame 611; expected 612'),
    (('|', ' '), 'no frame-to-sequence table'),
])
def test_parse_sequence_table_refuses_gaps_overlaps_and_short_tables(
        change, message):
    with pytest.raises(PolypFileError, match=re.escape(message)):
        prep.parse_sequence_table(SAMPLE_README.replace(*change), 'R.txt')


def test_sequence_split_keeps_each_sequence_on_one_side(tmp_path):
    frames = range(1, 613)
    root = tmp_path / 'clinic'
    write_pairs(root / 'images', root / 'masks', frames, '.png', size=(12, 16))
    (root / 'README.txt').write_text(SAMPLE_README)
    out = tmp_path / 'out'
    table, reported = prepare(
        out,
        clinicdb=root,
        clinicdb_sequence_split=prep.AUTO,
        test_fraction=0.2,
        seed=3,
        link='hard')
    folder = out / 'splits' / 'clinicdb_sequence'
    train = read_list(folder / 'train.txt')
    test = read_list(folder / 'test.txt')
    assert sorted(train + test, key=int) == [str(f) for f in frames]
    assert train == sorted(train, key=int) and test == sorted(test, key=int)
    test_sequences = {s for s, (a, b) in SEQUENCES.items() if str(a) in test}
    for sequence, (first, last) in SEQUENCES.items():
        side = test if sequence in test_sequences else train
        assert all(str(f) in side for f in range(first, last + 1))
    assert abs(len(test) - 0.2 * 612) <= 70 / 2
    shown = re.search(r'test = sequences ([\d, ]+) \((\d+) frames', reported)
    assert {int(s) for s in shown.group(1).split(', ')} == test_sequences
    assert int(shown.group(2)) == len(test)
    assert re.search(
        r'cvc-clinicdb\s+612\s+0\s+1224\s+0\s+'
        rf'clinicdb_sequence {len(train)}/{len(test)}', table)
    assert (out / 'cvc-clinicdb' / 'README.txt').read_text() == SAMPLE_README

    # Later runs split the prepared set, by the README copied along.
    table, _ = prepare(
        out, clinicdb_sequence_split=prep.AUTO, seed=4, overwrite=True)
    assert sorted(
        read_list(folder / 'train.txt') + read_list(folder / 'test.txt'),
        key=int) == [str(f) for f in frames]
    assert re.search(r'cvc-clinicdb\s+-\s+0\s+0\s+0\s+clinicdb_sequence',
                     table)


def test_sequence_split_is_seeded():
    sequences = {s: list(range(a, b + 1)) for s, (a, b) in SEQUENCES.items()}
    splits = {
        seed: prep.sequence_split(sequences, 0.1, seed)
        for seed in range(6)
    }
    assert prep.sequence_split(sequences, 0.1, 2) == splits[2]
    assert len({tuple(test) for _, test in splits.values()}) > 1
    for train, test in splits.values():
        assert sorted(train + test) == sorted(sequences)
    train, test = prep.sequence_split(sequences, 0.99, 0)
    assert train and test


def test_sequence_split_without_readme_says_how(tmp_path):
    err = problems(
        tmp_path / 'out',
        clinicdb=make_clinicdb(tmp_path, readme=None),
        clinicdb_sequence_split=prep.AUTO)
    assert 'no CVC-ClinicDB README.txt found' in err
    assert '--clinicdb-sequence-split PATH' in err
    assert_nothing_written(tmp_path / 'out')


def test_sequence_split_refuses_a_set_that_is_not_612_frames(tmp_path):
    err = problems(
        tmp_path / 'out',
        clinicdb=make_clinicdb(tmp_path),
        clinicdb_sequence_split=prep.AUTO)
    assert re.search(
        r'does not hold exactly the frames 1\.\.612 .*missing: '
        r'3, 4, 5', err)


def _truncate(path):
    with open(path, 'rb') as file:
        data = file.read()
    with open(path, 'wb') as file:
        file.write(data[:len(data) // 2])


def _corrupt_tiff(path):
    with open(path, 'wb') as file:
        file.write(b'II*\x00' + bytes(range(256)) * 4)


BAD_INPUTS = {
    # name: (change to the downloads, file named in the report, problem)
    'missing mask': (lambda k, c: os.remove(f'{k}/masks/cju2b.jpg'),
                     'images/cju2b.jpg', 'image without mask'),
    'extra mask': (lambda k, c: write(f'{k}/masks/cju9z.jpg', disk()),
                   'masks/cju9z.jpg', 'mask without image'),
    'size mismatch': (lambda k, c: write(f'{k}/masks/cju1a.jpg', disk(20, 30)),
                      'masks/cju1a.jpg', 'mask is 30x20 but its image'),
    'truncated jpeg': (lambda k, c: _truncate(f'{k}/images/cju3c.jpg'),
                       'images/cju3c.jpg', 'truncated JPEG'),
    'corrupt tiff': (lambda k, c: _corrupt_tiff(f'{c}/Original/2.tif'),
                     'Original/2.tif', 'cannot be decoded by OpenCV or '
                     'Pillow'),
    # Refused from its header (the tool used to crash in OpenCV on the
    # 254-byte PNG claiming 60000x60000 that the reader tests use).
    'image over the pixel limit':
    (lambda k, c: write(f'{k}/images/cju1a.jpg',
                        np.zeros(
                            (4000, 5000, 3), np.uint8)), 'images/cju1a.jpg',
     'image is 5000x4000 (20,000,000 pixels), over the limit'),
    'grayscale image': (lambda k, c: write(f'{k}/images/cju1a.jpg',
                                           frame()[..., 0]),
                        'images/cju1a.jpg', 'grayscale image'),
    'rgba image':
    (lambda k, c: write(f'{c}/Original/10.tif', np.dstack([frame(
    ), disk()])), 'Original/10.tif', 'RGBA image'),
    'mask coded 0/1': (lambda k, c: write(f'{c}/Ground Truth/1.tif',
                                          disk() // 255), 'Ground Truth/1.tif',
                       'look like class indices'),
    'grey mask':
    (lambda k, c: write(f'{k}/masks/cju2b.jpg', np.full(
        (32, 40), 128, np.uint8)), 'masks/cju2b.jpg',
     'of the pixels are grey'),
    'not an image': (lambda k, c: open(f'{c}/Original/notes.txt', 'w').close(),
                     'Original/notes.txt', 'not an image'),
    'same stem twice': (lambda k, c: write(f'{c}/Original/2.png', frame()),
                        'Original/2.tif', 'shares the stem'),
}


@pytest.mark.parametrize('bad', BAD_INPUTS)
def test_bad_input_is_reported_and_nothing_written(tmp_path, bad):
    change, named, problem = BAD_INPUTS[bad]
    kvasir, clinicdb = make_kvasir(tmp_path), make_clinicdb(tmp_path)
    change(osp.join(kvasir, 'Kvasir-SEG'), clinicdb)
    out = tmp_path / 'out'
    err = problems(out, kvasir=kvasir, clinicdb=clinicdb)
    assert re.search(rf'{re.escape(named)}: .*{re.escape(problem)}', err), err
    assert_nothing_written(out)


def test_missing_or_unrecognised_source_folder(tmp_path):
    (tmp_path / 'colon' / 'frames').mkdir(parents=True)
    err = problems(
        tmp_path / 'out',
        kvasir=tmp_path / 'absent',
        colondb=tmp_path / 'colon')
    assert re.search(r'absent: --kvasir folder does not exist', err)
    assert re.search(
        r'colon: no --colondb layout found .*expected '
        r'images/ \+ masks/; it holds frames', err)
    assert_nothing_written(tmp_path / 'out')


def test_downloads_folder_is_not_searched_for_another_set(tmp_path):
    """Only single-folder wrappers are entered: a folder of several
    downloads is not searched for a set, which could pick the wrong one."""
    kvasir = make_kvasir(tmp_path)
    make_clinicdb(tmp_path)
    err = problems(
        tmp_path / 'out', colondb=tmp_path, cvc300=kvasir, etis=kvasir)
    assert re.search(
        r'no --colondb layout found .*it holds CVC-ClinicDB, '
        r'Kvasir-SEG', err)
    assert re.search(
        r'Kvasir-SEG/images: would fill both '
        r'etis-laribpolypdb and cvc-300', err)
    assert_nothing_written(tmp_path / 'out')


@pytest.mark.subprocess
def test_all_problems_of_a_run_are_in_one_report(tmp_path):
    kvasir, clinicdb = make_kvasir(tmp_path), make_clinicdb(tmp_path)
    os.remove(osp.join(kvasir, 'Kvasir-SEG', 'masks', 'cju1a.jpg'))
    _truncate(osp.join(kvasir, 'Kvasir-SEG', 'images', 'cju3c.jpg'))
    _corrupt_tiff(osp.join(clinicdb, 'Ground Truth', '10.tif'))
    code, _, err = run('--kvasir', kvasir, '--clinicdb', clinicdb, '--cvc300',
                       tmp_path / 'absent', '--out', tmp_path / 'out')
    assert code == 1
    assert f'4 problem(s); nothing was written to {tmp_path / "out"}:' in err
    for named in ('images/cju1a.jpg', 'images/cju3c.jpg',
                  'Ground Truth/10.tif', 'absent'):
        assert named in err


def test_existing_output_needs_overwrite_and_survives_failures(tmp_path):
    out = tmp_path / 'out'
    kvasir = make_kvasir(tmp_path)
    prepare(out, kvasir=kvasir)
    before = {p: (out / p).read_bytes() for p in tree(out)}

    err = problems(out, kvasir=kvasir)
    assert re.search(r'out/kvasir-seg: already exists; pass --overwrite', err)

    _truncate(osp.join(kvasir, 'Kvasir-SEG', 'masks', 'cju2b.jpg'))
    problems(out, kvasir=kvasir, overwrite=True)
    assert {p: (out / p).read_bytes() for p in tree(out)} == before
    assert sorted(os.listdir(out)) == ['kvasir-seg']

    write(osp.join(kvasir, 'Kvasir-SEG', 'masks', 'cju2b.jpg'), disk())
    os.remove(osp.join(kvasir, 'Kvasir-SEG', 'images', 'cju3c.jpg'))
    os.remove(osp.join(kvasir, 'Kvasir-SEG', 'masks', 'cju3c.jpg'))
    prepare(out, kvasir=kvasir, overwrite=True)
    assert tree(out) == layout('kvasir-seg', ('cju1a', 'cju2b'), '.jpg')


@pytest.mark.parametrize('argv, message', [
    (['--kvasir', 'k', '--pranet', 'p'
      ], 'kvasir-seg would come from both --kvasir and --pranet'),
    (['--pranet', 'p', '--split-dir', 's'], 'drop --split-dir'),
    (['--kvasir', 'out/kvasir-seg/src'], 'lies in'),
    (['--clinicdb-sequence-split', '--test-fraction', '1.5'
      ], '1.5 is not between 0 and 1'),
    ([], 'nothing to do'),
])
@pytest.mark.subprocess
def test_usage_errors(tmp_path, argv, message):
    code, _, err = run(*argv, '--out', 'out', cwd=tmp_path)
    assert code == 2
    assert message in err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('given, message', [
    (dict(kvasir='k', pranet='p'),
     'kvasir-seg would come from both --kvasir and --pranet'),
    (dict(pranet='p', split_dir='s'), 'drop --split-dir'),
    ({}, 'nothing to do'),
])
def test_prepare_refuses_the_usage_errors_too(tmp_path, given, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        prep.prepare(options(tmp_path / 'out', **given))
    assert not (tmp_path / 'out').exists()


def test_command_line(run_tool, tmp_path):
    out = tmp_path / 'out'
    result = run_tool(
        'tools/prepare_polyp_data.py',
        '--kvasir',
        make_kvasir(tmp_path),
        '--etis',
        make_etis(tmp_path),
        '--out',
        str(out),
        cwd=REPO_ROOT)
    assert result.code == 0, result.stderr
    assert re.search(r'kvasir-seg\s+3\s+6\s+0\s+0', result.stdout)
    assert tree(out) == (
        layout('kvasir-seg', ('cju1a', 'cju2b', 'cju3c'), '.jpg')
        | layout('etis-laribpolypdb', (1, 2), '.png'))


def test_a_failed_commit_that_cannot_be_undone_keeps_the_old_sets(
        tmp_path, monkeypatch):
    out = tmp_path / 'out'
    kvasir = make_kvasir(tmp_path)
    prepare(out, kvasir=kvasir)
    before = {p: (out / p).read_bytes() for p in tree(out)}
    real_rename = os.rename
    calls = []

    def rename(source, target):
        # The old set moves aside, placing the new one fails, and so does
        # putting the old one back (a disk gone read-only, say).
        calls.append(source)
        if len(calls) > 1:
            raise OSError('Read-only file system')
        real_rename(source, target)

    monkeypatch.setattr(os, 'rename', rename)
    with pytest.raises(OSError, match='undoing it failed too') as error:
        prepare(out, kvasir=kvasir, overwrite=True)
    monkeypatch.undo()
    kept = re.search(r'kept in (\S+): move', str(error.value)).group(1)
    # Nothing deleted: the old set is in the folder the message names.
    moved = os.listdir(kept)
    assert len(moved) == 1
    restored = {
        p: open(osp.join(kept, moved[0], p[len('kvasir-seg/'):]), 'rb').read()
        for p in before if p.startswith('kvasir-seg/')
    }
    assert restored == {p: before[p] for p in restored}


def test_staging_folders_of_killed_runs_are_removed(tmp_path):
    import socket
    import subprocess
    import sys
    out = tmp_path / 'out'
    out.mkdir()
    process = subprocess.Popen([sys.executable, '-c', 'pass'])
    process.wait()
    tag = f'{socket.gethostname()}-{process.pid}'
    dead = out / f'.prepare-{tag}-abc'
    (dead / 'kvasir-seg').mkdir(parents=True)
    holding = out / f'.prepare-{tag}-def'
    (holding / 'replaced' / '0-kvasir-seg').mkdir(parents=True)
    _, lines = prepare(out, kvasir=make_kvasir(tmp_path))
    assert not dead.exists()
    assert holding.exists()
    assert f'{holding}: left by a killed run' in lines
    assert sorted(os.listdir(out)) == [holding.name, 'kvasir-seg']
