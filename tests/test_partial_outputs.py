"""removed_on_error and staged: a failed run undoes exactly its own writes;
what killed runs leave behind is cleaned (staging) or named (replaced
files)."""
import os
import socket
import subprocess
import sys

import pytest

from ssformer_mmseg.partial_outputs import (claim_output, removed_on_error,
                                            staged)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, '-c', 'pass'])
    process.wait()
    return process.pid


def test_claimed_files_are_removed_and_replaced_ones_restored(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a.txt').write_text('earlier')
    with pytest.raises(RuntimeError) as error:
        with removed_on_error(str(out)):
            for name in ('a.txt', 'sub/b.txt'):
                with open(claim_output(str(out / name)), 'w') as f:
                    f.write('this run')
            (out / 'c.txt').write_text('not claimed: someone else\'s')
            raise RuntimeError('failed')
    assert 'removed the 2 partial output file(s)' in error.value.__notes__[0]
    assert sorted(os.listdir(out)) == ['a.txt', 'c.txt']
    assert (out / 'a.txt').read_text() == 'earlier'


def test_success_keeps_the_new_files_and_forgets_the_old(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a.txt').write_text('earlier')
    with removed_on_error(str(out)):
        with open(claim_output(str(out / 'a.txt')), 'w') as f:
            f.write('this run')
    assert os.listdir(out) == ['a.txt']
    assert (out / 'a.txt').read_text() == 'this run'


def test_staged_moves_in_on_success_and_touches_nothing_on_failure(tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        with staged(str(out)) as staging:
            (tmp_path / staging / 'x.txt').write_text('partial')
            raise RuntimeError('failed')
    assert os.listdir(tmp_path) == []
    with staged(str(out)) as staging:
        os.makedirs(os.path.join(staging, 'sub'))
        with open(os.path.join(staging, 'sub', 'x.txt'), 'w') as f:
            f.write('done')
    assert os.listdir(tmp_path) == ['out']
    assert (out / 'sub' / 'x.txt').read_text() == 'done'


def test_leftovers_of_killed_runs(tmp_path):
    host, dead = socket.gethostname(), _dead_pid()
    out = tmp_path / 'out'
    out.mkdir()
    stale = tmp_path / f'.out.ssformer-staging-{host}-{dead}-abc'
    live = tmp_path / f'.out.ssformer-staging-{host}-{os.getppid()}-abc'
    replaced = out / f'.ssformer-replaced-{host}-{dead}-abc'
    for folder in (stale, live, replaced):
        folder.mkdir()
    with pytest.warns(UserWarning, match='files a killed run had replaced'):
        with staged(str(out)):
            pass
    assert not stale.exists()
    assert live.exists() and replaced.exists()
