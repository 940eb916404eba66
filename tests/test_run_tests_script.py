"""The README's test command keeps the disk it needs in check.

A full run writes checkpoints under the temp dir; CI once failed on a disk that
earlier runs had filled (pytest kept 3 runs of ~8 GB each). ``pytest.ini``
deletes a passing test's ``tmp_path`` right away and ``tools/run_tests.sh``
refuses to start on a temp dir without room, with a message that says so.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_run_tests_refuses_a_temp_dir_without_room(tmp_path):
    env = dict(
        os.environ, TMPDIR=str(tmp_path), MMFFN_TEST_MIN_FREE_MB='999999999')
    result = subprocess.run(['bash',
                             osp.join(REPO, 'tools', 'run_tests.sh')],
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stdout == ''  # neither the venv set-up nor lint ran
    message = result.stderr.strip()
    assert message.startswith(f'run_tests.sh: {tmp_path} has ')
    assert 'MB free, the test suite needs at least 999999999 MB' in message


def test_pytest_ini_keeps_only_failed_tests_tmp_paths(tmp_path):
    tests = tmp_path / 'case'
    tests.mkdir()
    (tests / 'test_case.py').write_text(
        textwrap.dedent("""
        def test_passes(tmp_path):
            (tmp_path / 'checkpoint.pth').write_bytes(b'x' * 1000)

        def test_fails(tmp_path):
            (tmp_path / 'checkpoint.pth').write_bytes(b'x' * 1000)
            assert False
        """))
    basetemp = tmp_path / 'basetemp'
    result = subprocess.run([
        sys.executable, '-m', 'pytest', '-c',
        osp.join(REPO, 'pytest.ini'), '--rootdir',
        str(tests), f'--basetemp={basetemp}', '-p', 'no:cacheprovider',
        str(tests / 'test_case.py')
    ],
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert '1 failed, 1 passed' in result.stdout, result.stdout
    kept = sorted(p.name for p in basetemp.iterdir() if not p.is_symlink())
    assert kept == ['test_fails0']
    assert (basetemp / 'test_fails0' / 'checkpoint.pth').stat().st_size == 1000
