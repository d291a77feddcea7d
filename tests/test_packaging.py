"""The release: version, licence and citation files, the built wheel and
sdist and what they hold, the ``ssformer-mmseg`` command and packaged
configs, the model index as ``mim`` reads it, and the stack check."""
import importlib.metadata
import importlib.util
import os.path as osp
import re
import subprocess
import sys
import tarfile
import warnings
import zipfile

import cv2
import pytest
import yaml

from conftest import REPO_ROOT
from ssformer_mmseg import __version__, commands, model_index, packaged, stack


def _read(name: str) -> str:
    with open(osp.join(REPO_ROOT, name), encoding='utf-8') as f:
        return f.read()


def _tracked(folder: str) -> set:
    """Files of ``folder`` that git tracks (what a clean clone holds)."""
    listed = subprocess.run(['git', 'ls-files', folder],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True,
                            check=True).stdout.split()
    return set(listed)


# The files of a release ------------------------------------------------------


def test_the_version_is_said_once_and_repeated_consistently():
    assert re.fullmatch(r'\d+\.\d+\.\d+', __version__)
    citation = yaml.safe_load(_read('CITATION.cff'))
    assert citation['version'] == __version__
    headings = re.findall(r'^## (\S+)', _read('CHANGELOG.md'), re.M)
    # Keep a Changelog: what is not released yet goes first, unnumbered.
    released = [h for h in headings if h != 'Unreleased']
    assert headings.index(released[0]) <= 1 and released[0] == __version__
    assert '0.1.0' in headings
    # pyproject reads it from the package; nothing else states it.
    pyproject = _read('pyproject.toml')
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "ssformer_mmseg.version.__version__" }' in (
        pyproject)
    assert not re.search(r'^version\s*=\s*"', pyproject, re.M)


def test_licence_is_the_full_apache_text():
    text = _read('LICENSE')
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    for section in ('1. Definitions.', '9. Accepting Warranty',
                    'END OF TERMS AND CONDITIONS'):
        assert section in text
    assert len(text.splitlines()) > 180


def test_citation_cites_the_paper_and_the_software():
    citation = yaml.safe_load(_read('CITATION.cff'))
    assert citation['cff-version'] == '1.2.0'
    assert citation['type'] == 'software' and citation['license'] == (
        'Apache-2.0')
    paper = citation['preferred-citation']
    assert paper['title'] == 'Stepwise Feature Fusion: Local Guides Global'
    assert paper['doi'] == '10.1007/978-3-031-16437-8_11'
    assert [a['family-names'] for a in paper['authors']
            ] == ['Wang', 'Huang', 'Tang', 'Meng', 'Su', 'Song']


@pytest.fixture(scope='module')
def distributions(tmp_path_factory):
    """The sdist, and the wheel built from it (``python -m build``)."""
    out = tmp_path_factory.mktemp('dist')
    result = subprocess.run(
        [sys.executable, '-m', 'build', '--outdir',
         str(out), REPO_ROOT],
        capture_output=True,
        text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    (sdist, ) = out.glob('*.tar.gz')
    (wheel, ) = out.glob('*.whl')
    return sdist, wheel


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_wheel_carries_package_configs_tools_and_licence(distributions):
    _, wheel = distributions
    assert wheel.name == f'ssformer_mmseg-{__version__}-py3-none-any.whl'
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(
            f'ssformer_mmseg-{__version__}.dist-info/entry_points.txt')
    mim = 'ssformer_mmseg/.mim/'
    expected = {f'{mim}{p}' for p in _tracked('configs') | _tracked('tools')}
    expected |= {
        f'{mim}model-index.yml', 'ssformer_mmseg_startup.pth',
        '_ssformer_mmseg_startup.py', 'ssformer_mmseg/__init__.py',
        'ssformer_mmseg/version.py', 'ssformer_mmseg/commands.py',
        f'ssformer_mmseg-{__version__}.dist-info/licenses/LICENSE'
    }
    expected |= {p for p in _tracked('ssformer_mmseg') if p.endswith('.py')}
    assert expected <= names, sorted(expected - names)[:10]
    # Nothing else: no tests, docs, caches or build leftovers.
    extra = {
        n
        for n in names - expected
        if not n.startswith(f'ssformer_mmseg-{__version__}.dist-info/')
    }
    assert extra == set()
    assert b'ssformer-mmseg = ssformer_mmseg.commands:main' in entry_points


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_sdist_carries_what_the_wheel_is_built_from(distributions):
    sdist, _ = distributions
    with tarfile.open(sdist) as archive:
        top = f'ssformer_mmseg-{__version__}/'
        names = {n[len(top):] for n in archive.getnames() if n != top[:-1]}
    required = {
        'LICENSE', 'CITATION.cff', 'CHANGELOG.md', 'README.md',
        'pyproject.toml', 'setup.py', 'MANIFEST.in', 'model-index.yml',
        'ssformer_mmseg_startup.pth', '_ssformer_mmseg_startup.py'
    }
    required |= _tracked('configs') | _tracked('tools')
    required |= {p for p in _tracked('ssformer_mmseg') if p.endswith('.py')}
    assert required <= names, sorted(required - names)[:10]
    assert not any(
        n.startswith(('ssformer_mmseg/.mim', 'tests/', 'docs/',
                      'work_dirs')) or '__pycache__' in n for n in names)


# The command and the packaged configs ----------------------------------------


def test_packaged_configs_are_found_by_name():
    path = osp.join(packaged.config_dir(), 'ssformer_s_kvasir.py')
    for name in ('ssformer_s_kvasir', 'ssformer_s_kvasir.py',
                 'configs/ssformer_s_kvasir.py',
                 'ssformer_mmseg::ssformer_s_kvasir.py'):
        assert osp.samefile(packaged.find_config(name), path)
    assert packaged.find_config(
        'experiments/ssformer_s_kvasir_scratch_224').endswith(
            osp.join('experiments', 'ssformer_s_kvasir_scratch_224.py'))
    names = packaged.config_names()
    assert 'ssformer_l_pranet_authors' in names
    assert not any(n.startswith('_base_') for n in names)
    # Every runnable config of the repository, and nothing else.
    assert len(names) == len([
        p for p in _tracked('configs')
        if p.endswith('.py') and '/_base_/' not in p
    ])


def test_a_path_wins_over_a_packaged_name(tmp_path):
    mine = tmp_path / 'ssformer_s_kvasir.py'
    mine.write_text('x = 1\n')
    assert packaged.find_config(str(mine)) == str(mine)
    assert packaged.find_config(str(tmp_path)) == str(tmp_path)  # a folder


def test_an_unknown_config_names_the_closest(capsys):
    with pytest.raises(
            packaged.ConfigNotFoundError,
            match='did you mean ssformer_s_kvasir'):
        packaged.find_config('ssformer_s_kvasr')
    with pytest.raises(packaged.ConfigNotFoundError, match='configs lists'):
        packaged.find_config('nothing_like_it_at_all')
    # Through a tool: argparse's usage error, exit status 2.
    assert commands.main(['train', 'ssformer_s_kvasr']) == 2
    assert 'did you mean ssformer_s_kvasir' in capsys.readouterr().err


def test_the_command_lists_every_tool(capsys):
    assert commands.main([]) == 0
    listing = capsys.readouterr().out
    scripts = commands.tool_scripts()
    for name in ('train', 'test', 'infer', 'export-onnx', 'deploy', 'webapp',
                 'prepare-polyp-data', 'ssformer2mmseg', 'dist-train'):
        assert name in scripts
        assert f'  {name} ' in listing
    tools = {
        osp.splitext(osp.basename(p))[0].replace('_', '-')
        for p in _tracked('tools') if p.count('/') == 1 or '/model_conv' in p
    }
    assert set(scripts) == tools
    assert commands.summary(scripts['train']).startswith('Train a segmentor')
    assert commands.main(['--version']) == 0
    assert capsys.readouterr().out.strip() == f'ssformer-mmseg {__version__}'
    assert commands.main(['configs']) == 0
    assert 'ssformer_s_kvasir' in capsys.readouterr().out.split()
    assert commands.main(['no-such-tool']) == 2
    assert "no command 'no-such-tool'" in capsys.readouterr().err


def test_a_subcommand_is_its_tool(capsys):
    # The same argument parser, named after the command.
    assert commands.main(['eval_maps', '--help']) == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith('usage: ssformer-mmseg eval-maps')
    assert 'packaged config by name' in ' '.join(help_text.split())
    before = list(sys.argv), list(sys.path)
    assert commands.main(['eval-maps']) == 2  # missing arguments
    assert (list(sys.argv), list(sys.path)) == before


@pytest.mark.subprocess
def test_the_installed_command_runs(tmp_path):
    # The console script of this environment's install, from elsewhere.
    script = osp.join(osp.dirname(sys.executable), 'ssformer-mmseg')
    if not osp.isfile(script):
        pytest.skip('ssformer-mmseg is not installed in this environment')
    result = subprocess.run([script, 'configs'],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == packaged.config_names()


# The model index -------------------------------------------------------------


def test_the_model_index_keeps_the_rules_mim_relies_on():
    index = model_index.load()
    assert model_index.problems(index) == []
    assert {m['Name']
            for m in index['Models']
            } == {n.split('/')[-1]
                  for n in packaged.config_names()}
    reported = [
        m for m in index['Models']
        if m['Metadata']['Results From'].startswith('reported')
    ]
    assert {m['Name']
            for m in reported
            } == {'ssformer_s_pranet_authors', 'ssformer_l_pranet_authors'}
    assert {r['Dataset']
            for r in reported[0]['Results']} == set(model_index.TEST_SETS)


def test_broken_entries_are_all_named():
    index = model_index.load()
    broken = dict(index['Models'][0], Name='Ssformer_S_Kvasir')
    broken['In Collection'] = 'Nope'
    broken['Results'] = [dict(Dataset='ImageNet', Metrics={})]
    broken['Metadata'] = {'Architecture': [1, 2]}
    found = model_index.problems(
        dict(index, Models=[*index['Models'], broken]))
    for words in ('not lower case', "no collection 'Nope'",
                  "unknown test set 'ImageNet'", 'without Metrics',
                  "no Metadata 'Training Budget'", 'list of strings'):
        assert any(words in line for line in found), words
    with pytest.raises(model_index.ModelIndexError, match='not lower case'):
        model_index.check(dict(index, Models=[broken]))


def test_intervals_in_the_model_index_are_checked_and_shown():
    index = model_index.load()
    model = next(m for m in index['Models'] if m.get('Results'))
    result = dict(model['Results'][0])
    value = result['Metrics']['meanDic']
    good = dict(result, Intervals={'meanDic': [value - 0.02, value + 0.01]})
    table = model_index.results_table([dict(model, Results=[good])])
    assert f'{value:.3f}<br><sub>{value - 0.02:.3f}–{value + 0.01:.3f}' \
        '</sub>' in table
    assert model['Metadata']['Intervals'] in table
    bad = dict(
        result,
        Intervals={
            'meanDic': [value + 0.01, value + 0.02],
            'maxDic': [0, 1]
        })
    found = model_index.problems(
        dict(index, Models=[dict(model, Results=[bad])]))
    assert any('interval of meanDic is not [low, high]' in f for f in found)
    assert any('an interval of maxDic, which has no value' in f for f in found)
    unlabelled = dict(model, Metadata=dict(model['Metadata']))
    del unlabelled['Metadata']['Intervals']
    found = model_index.problems(dict(index, Models=[unlabelled]))
    assert any("results without Metadata 'Intervals'" in f for f in found)


def test_mims_parser_reads_the_index():
    modelindex = pytest.importorskip('modelindex.load_model_index')
    loaded = modelindex.load(osp.join(packaged.root(), 'model-index.yml'))
    assert not loaded.check_errors
    names = [m.name for m in loaded.models]
    assert len(names) == len(set(names)) == len(packaged.config_names())
    for model in loaded.models:
        assert model.in_collection == 'SSFormer'
        for result in model.results or []:
            assert result.dataset in model_index.TEST_SETS
            assert all(isinstance(v, float) for v in result.metrics.values())


def test_the_model_zoo_tables_are_generated_from_the_index():
    files = [
        osp.join(REPO_ROOT, 'README.md'),
        osp.join(REPO_ROOT, 'docs', 'model_zoo.md')
    ]
    assert model_index.stale_files(files) == [], (
        'run python -m ssformer_mmseg.model_index --update')
    text = _read('docs/model_zoo.md')
    for name in ('reported', 'measured'):
        assert model_index.BLOCK.format(name=name) in text
    assert '| `ssformer_s_pranet_authors` | the authors\': 2000 epochs' in text


# The stack check -------------------------------------------------------------


def _fake_distribution(site, name, version, module):
    info = site / f'{name.replace("-", "_")}-{version}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA'
     ).write_text(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    (info / 'top_level.txt').write_text(f'{module}\n')


def test_two_distributions_of_one_module_are_named(tmp_path, monkeypatch):
    # A second distribution of mmseg beside the installed one: the fork
    # beside upstream, or upstream beside the fork.
    (installed, ) = stack.providers(('mmseg', ))['mmseg']
    other = ('mmsegmentation 1.2.2' if installed.startswith('onedl-') else
             'onedl-mmsegmentation 1.4.2')
    _fake_distribution(tmp_path, *other.split(), 'mmseg')
    # And an OpenCV of the other major version.
    opencv_major = cv2.__version__.split('.')[0]
    mixed = '4.12.0' if opencv_major == '5' else '5.1.0'
    _fake_distribution(tmp_path, 'opencv-python', mixed, 'cv2')
    monkeypatch.syspath_prepend(str(tmp_path))
    found = stack.providers(('mmseg', 'cv2'))
    assert found['mmseg'] == sorted([installed, other])
    with pytest.warns(stack.StackConflictWarning) as caught:
        stack.check()
    messages = [str(w.message) for w in caught]
    (mmseg, ) = [m for m in messages if "module 'mmseg'" in m]
    for kept, removed in (installed, other), (other, installed):
        name, version = kept.split()
        assert (f'pip uninstall -y {removed.split()[0]} && pip install '
                f'--force-reinstall --no-deps "{name}=={version}"') in mmseg
    (opencv, ) = [m for m in messages if "module 'cv2'" in m]
    assert f'opencv-python {mixed}' in opencv
    assert '"opencv-python>=4,<5"' in opencv
    assert '"opencv-python>=5,<6"' in opencv


def test_one_distribution_per_module_is_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter('error', stack.StackConflictWarning)
        stack.check()
    assert stack.opencv_mix_message(
        ['opencv-python 4.12.0', 'opencv-python-headless 4.14.0']) is None


def test_a_missing_stack_says_how_to_install_one(monkeypatch):
    real = importlib.util.find_spec

    def without_mmengine(name, *args):
        return None if name == 'mmengine' else real(name, *args)

    monkeypatch.setattr(stack.importlib.util, 'find_spec', without_mmengine)
    with pytest.raises(ModuleNotFoundError) as error:
        stack.check()
    assert error.value.name == 'mmengine'
    assert "pip install 'ssformer-mmseg[upstream,lite]'" in str(error.value)
    assert "'ssformer-mmseg[onedl]'" in str(error.value)


def test_the_installed_metadata_requires_no_stack():
    # mmseg, mmengine and mmcv come from extras only, so installing the
    # package never replaces the ones a user has.
    try:
        requires = importlib.metadata.requires('ssformer-mmseg') or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip('ssformer-mmseg is not installed')
    core = [r for r in requires if 'extra ==' not in r]
    assert not any(
        re.match(r'(onedl-)?(mmsegmentation|mmengine|mmcv)', r)
        for r in core), core
