"""mmffn installs beside a full mmcv: mmcv is an extra, never a requirement.

The full ``mmcv`` and ``mmcv-lite`` own the same ``mmcv`` import package; if
``setup.py`` required ``mmcv-lite``, ``pip install -e .`` on a GPU machine
would add it beside the full mmcv (files overwritten, uninstall breaks both).
These tests check the built metadata, ask the real pip (the project venv's)
what it would install into throwaway environments, offline, check the error of
``import mmffn`` without mmcv, and ``tools/setup_env.sh``'s choice of extra.
"""
import email.parser
import importlib.util
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import warnings
import zipfile
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LITE_PIN = 'mmcv-lite==2.1.0'
FULL_MMCV_VERSION = '2.1.0'  # the stand-in "full mmcv" of a GPU machine


def _mmaction_mmcv_bounds():
    """(min, max) mmcv versions that mmaction/__init__.py asserts."""
    origin = importlib.util.find_spec('mmaction').origin  # not imported
    with open(origin) as f:
        text = f.read()
    low = re.search(r"mmcv_minimum_version = '([^']+)'", text).group(1)
    high = re.search(r"mmcv_maximum_version = '([^']+)'", text).group(1)
    return low, high


def _requirements_by_extra(pkg_info):
    """{None: base requirements, extra: requirements only under extra}."""
    msg = email.parser.Parser().parsestr(pkg_info)
    extras = msg.get_all('Provides-Extra') or []
    groups = {None: []}
    groups.update((extra, []) for extra in extras)
    for line in msg.get_all('Requires-Dist') or []:
        req = Requirement(line)
        if req.marker is None:
            groups[None].append(req)
            continue
        hit = [e for e in extras if req.marker.evaluate({'extra': e})]
        assert hit, f'requirement under no known extra: {line}'
        for extra in hit:
            groups[extra].append(req)
    return groups


def _strip_marker(req):
    return f'{canonicalize_name(req.name)}{req.specifier}'


@pytest.fixture(scope='module')
def project_copy(tmp_path_factory):
    """The project's setup.py, README.md and mmffn/ in a tmp dir.

    Builds (egg_info, pip's editable metadata) write there, not in the
    checkout that others work in.
    """
    dst = tmp_path_factory.mktemp('project') / 'mmffn-src'
    dst.mkdir()
    for name in ('setup.py', 'README.md'):
        if osp.exists(osp.join(REPO, name)):
            shutil.copy(osp.join(REPO, name), dst)
    shutil.copytree(
        osp.join(REPO, 'mmffn'),
        dst / 'mmffn',
        ignore=shutil.ignore_patterns('__pycache__'))
    return dst


@pytest.fixture(scope='module')
def built_requirements(project_copy, tmp_path_factory):
    egg_base = tmp_path_factory.mktemp('egg_base')
    subprocess.run([
        sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base',
        str(egg_base)
    ],
                   cwd=project_copy,
                   check=True,
                   capture_output=True,
                   text=True)
    pkg_info = (egg_base / 'mmffn.egg-info' / 'PKG-INFO').read_text()
    return _requirements_by_extra(pkg_info)


def test_mmcv_only_in_extras(built_requirements):
    groups = built_requirements
    base = {canonicalize_name(r.name) for r in groups[None]}
    assert 'mmcv' not in base and 'mmcv-lite' not in base, sorted(base)
    assert {'mmaction2', 'mmengine', 'torch'} <= base  # the rest is there

    assert [_strip_marker(r) for r in groups['lite']] == [LITE_PIN]

    (full, ) = groups['full']
    assert canonicalize_name(full.name) == 'mmcv'
    low, high = _mmaction_mmcv_bounds()
    assert full.specifier == SpecifierSet(f'>={low},<{high}')
    assert FULL_MMCV_VERSION in full.specifier

    tests_extra = [canonicalize_name(r.name) for r in groups['tests']]
    # the suite on 2 workers, the linters, the ONNX check of deployment
    assert tests_extra == [
        'pytest', 'pytest-xdist', 'flake8', 'isort', 'yapf', 'onnx',
        'onnxruntime'
    ]
    assert [canonicalize_name(r.name)
            for r in groups['deploy']] == ['onnx', 'onnxruntime']
    for extra, reqs in groups.items():
        if extra not in ('lite', 'full'):
            names = {canonicalize_name(r.name) for r in reqs}
            assert not names & {'mmcv', 'mmcv-lite'}, (extra, names)


# ---------------------------------------------------------------- real pip


def _write_dist_info(site, name, version):
    """A stand-in installed distribution: its dist-info, no code."""
    info = f'{name.replace("-", "_")}-{version}.dist-info'
    os.makedirs(osp.join(site, info))
    files = {
        'METADATA': f'Metadata-Version: 2.1\nName: {name}\n'
        f'Version: {version}\n',
        'INSTALLER': 'pip\n',
    }
    for fname, text in files.items():
        with open(osp.join(site, info, fname), 'w') as f:
            f.write(text)
    with open(osp.join(site, info, 'RECORD'), 'w') as f:
        f.write(''.join(f'{info}/{n},,\n' for n in [*files, 'RECORD']))


def _write_wheel(folder, name, version):
    """A stand-in wheel for pip's --find-links (metadata only)."""
    stem = f'{name.replace("-", "_")}-{version}'
    path = osp.join(folder, f'{stem}-py3-none-any.whl')
    info = f'{stem}.dist-info'
    with zipfile.ZipFile(path, 'w') as whl:
        whl.writestr(
            f'{info}/METADATA', f'Metadata-Version: 2.1\n'
            f'Name: {name}\nVersion: {version}\n')
        whl.writestr(
            f'{info}/WHEEL', 'Wheel-Version: 1.0\nGenerator: test\n'
            'Root-Is-Purelib: true\nTag: py3-none-any\n')
        whl.writestr(
            f'{info}/RECORD', f'{info}/METADATA,,\n{info}/WHEEL,,\n'
            f'{info}/RECORD,,\n')


def _venv_site(env):
    return sysconfig.get_path(
        'purelib', vars={
            'base': str(env),
            'platbase': str(env)
        })


def _make_env(root, built_requirements, mmcv_dists):
    """A venv without pip holding stand-ins for mmffn's requirements but mmcv.

    Versions are the project venv's (checked against the specifiers). The
    real setuptools is linked in: pip builds mmffn's editable metadata with
    it (--no-build-isolation, so nothing is fetched).
    """
    env = root / 'env'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(env)],
                   check=True)
    site = _venv_site(env)
    assert osp.isdir(site), site
    here = osp.dirname(
        osp.dirname(
            metadata.distribution('setuptools').locate_file(
                'setuptools/__init__.py')))
    for req in built_requirements[None] + built_requirements['tests']:
        name = canonicalize_name(req.name)
        if name in ('mmcv', 'mmcv-lite'):
            continue  # each env has its own mmcv (test_mmcv_only_in_extras)
        if name == 'setuptools':
            version = metadata.version('setuptools')
            for entry in ('setuptools', 'pkg_resources', '_distutils_hack',
                          'distutils-precedence.pth',
                          f'setuptools-{version}.dist-info'):
                if osp.exists(osp.join(here, entry)):
                    os.symlink(osp.join(here, entry), osp.join(site, entry))
        else:
            version = Version(metadata.version(req.name)).public
            _write_dist_info(site, name, version)
        assert req.specifier.contains(
            version, prereleases=True), (req, version)
    for name, version in mmcv_dists:
        _write_dist_info(site, name, version)
    return env


@pytest.fixture(scope='module')
def envs(tmp_path_factory, built_requirements):
    """Throwaway envs: 'full' (a full mmcv 2.1.0), 'lite', 'bare' (none)."""
    made = {}
    for kind, dists in (('full', [('mmcv', FULL_MMCV_VERSION)]),
                        ('lite', [('mmcv-lite', '2.1.0')]), ('bare', [])):
        made[kind] = _make_env(
            tmp_path_factory.mktemp(kind), built_requirements, dists)
    return made


@pytest.fixture(scope='module')
def wheelhouse(tmp_path_factory):
    """What pip may install: stand-in mmcv-lite 2.1.0 and mmcv 2.1.0."""
    folder = tmp_path_factory.mktemp('wheelhouse')
    _write_wheel(str(folder), 'mmcv-lite', '2.1.0')
    _write_wheel(str(folder), 'mmcv', FULL_MMCV_VERSION)
    return folder


def _pip_env():
    """The environment without the user's pip settings (find-links, index)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith('PIP_') and k != 'PYTHONPATH'
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK='1',
        PIP_NO_INPUT='1')
    return env


def _pip_would_install(env, target, wheelhouse, tmp_path):
    """{name: version} that `pip install -e target` would install into env.

    The project venv's pip drives env's interpreter (--python), offline
    (--no-index, only the stand-in wheelhouse), without changing anything
    (--dry-run), and reports its resolution as JSON.
    """
    report = tmp_path / 'report.json'
    result = subprocess.run([
        sys.executable, '-m', 'pip', '--python',
        str(env / 'bin' / 'python'), 'install', '--dry-run', '--no-index',
        '--find-links',
        str(wheelhouse), '--no-build-isolation', '--no-cache-dir', '--report',
        str(report), '-e', target
    ],
                            capture_output=True,
                            text=True,
                            env=_pip_env())
    assert result.returncode == 0, result.stdout + result.stderr
    with open(report) as f:
        items = json.load(f)['install']
    return {
        canonicalize_name(i['metadata']['name']): i['metadata']['version']
        for i in items
    }


needs_pip_python = pytest.mark.skipif(
    Version(metadata.version('pip')) < Version('22.3'),
    reason='pip install --python and --report need pip >= 22.3')


@needs_pip_python
@pytest.mark.parametrize(
    'env_kind, extras, expected',
    [
        # A GPU machine with the full mmcv keeps it: `pip install -e .`, what
        # tools/setup_env.sh does there ([tests]), and the `full` extra all
        # install mmffn alone although a mmcv-lite is on offer.
        ('full', '', {}),
        ('full', '[tests]', {}),
        ('full', '[full]', {}),
        # A CPU machine: the `lite` extra brings mmcv-lite 2.1.0, as
        # tools/setup_env.sh ([lite,tests]) does.
        ('bare', '[lite,tests]', {
            'mmcv-lite': '2.1.0'
        }),
        # Plain `pip install -e .` without any mmcv installs none (`import
        # mmffn` says what to do: test_import_without_mmcv_says_how_to_fix).
        ('bare', '', {}),
    ])
def test_pip_keeps_full_mmcv(envs, wheelhouse, project_copy, tmp_path,
                             env_kind, extras, expected):
    would = _pip_would_install(envs[env_kind], f'{project_copy}{extras}',
                               wheelhouse, tmp_path)
    assert would == {'mmffn': '0.1.0', **expected}


# ------------------------------------------------------ import without mmcv

HIDE_MMCV = textwrap.dedent('''
    import json, sys

    class HideMmcv:
        """Wraps a meta path finder; finds no mmcv, as if not installed."""
        def __init__(self, finder):
            self.finder = finder
        def find_spec(self, name, path=None, target=None):
            if name == 'mmcv' or name.startswith('mmcv.'):
                return None
            return self.finder.find_spec(name, path, target)
        def __getattr__(self, attr):
            return getattr(self.finder, attr)

    sys.meta_path[:] = [HideMmcv(f) for f in sys.meta_path]
    try:
        import mmffn
    except ImportError as exc:
        stack = {'mmaction', 'mmengine', 'torch'} & set(sys.modules)
        print(json.dumps(dict(type=type(exc).__name__, message=str(exc),
                              name=exc.name, stack_loaded=sorted(stack))))
    else:
        print(json.dumps(dict(type=None)))
''')


def test_import_without_mmcv_says_how_to_fix():
    result = subprocess.run([sys.executable, '-c', HIDE_MMCV],
                            cwd=REPO,
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen['type'] == 'ImportError', seen
    assert seen['name'] == 'mmcv'
    message = seen['message']
    for fix in ('pip install "mmffn[lite]"', 'pip install mmcv-lite==2.1.0',
                'mim install mmcv==2.1.0', 'download.openmmlab.com',
                'docs/install.md'):
        assert fix in message, (fix, message)
    # The check runs first, before mmffn imports any of the stack.
    assert seen['stack_loaded'] == [], seen


def _load_check_mmcv():
    """mmffn/requirements.py's check_mmcv, without importing mmffn's stack.

    The module is meant to stand alone (it runs before anything else).
    """
    path = osp.join(REPO, 'mmffn', 'requirements.py')
    spec = importlib.util.spec_from_file_location('_mmffn_requirements', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check_mmcv


def _has_dist(name):
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_check_mmcv_silent_with_one_mmcv():
    check_mmcv = _load_check_mmcv()
    installed = [d for d in ('mmcv', 'mmcv-lite') if _has_dist(d)]
    assert len(installed) == 1, installed  # e.g. this venv: mmcv-lite only
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_mmcv()


def test_check_mmcv_warns_when_both_installed(tmp_path, monkeypatch):
    check_mmcv = _load_check_mmcv()
    other = 'mmcv-lite' if _has_dist('mmcv') else 'mmcv'
    _write_dist_info(str(tmp_path), other, '2.1.0')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(
            RuntimeWarning,
            match='Both the full mmcv .* and '
            'mmcv-lite .* are installed'):
        check_mmcv()


# ------------------------------------------------------ tools/setup_env.sh


@pytest.mark.parametrize(
    'env_kind, target',
    [
        ('full', '[tests]'),  # keep the full mmcv, no mmcv-lite beside it
        ('lite', '[lite,tests]'),  # keeps the mmcv-lite at the 2.1.0 pin
        ('bare', '[lite,tests]'),
        (None, '[lite,tests]'),  # no venv yet
    ])
def test_setup_env_target(envs, tmp_path, env_kind, target):
    venv = envs[env_kind] if env_kind else tmp_path / 'not-yet'
    result = subprocess.run(
        ['bash',
         osp.join(REPO, 'tools', 'setup_env.sh'), '--print-target'],
        env={
            **os.environ, 'VENV': str(venv)
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True)
    assert result.stdout.strip() == f'{REPO}{target}'
    assert not (venv / '.mmffn-stamp').exists()  # it changed nothing
