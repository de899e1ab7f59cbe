"""Runs a tool under the Python that has Debian's science packages.

Debian installs OpenMM (python3-simtk), MDTraj and Matplotlib for
/usr/bin/python3 only; another python3 earlier on PATH (pyenv, conda, a
venv) cannot import them. require() imports the named modules and, when one
is missing, re-executes the calling script once under /usr/bin/python3
with the same arguments; if that Python lacks them too, it exits with the
Debian packages to install.
"""
import importlib
import os
import sys

DEBIAN_PYTHON = "/usr/bin/python3"
_GUARD = "SIEGETANK_DEBIAN_PYTHON"


def require(modules, packages):
    """Imports each of modules (names); returns nothing or does not return."""
    try:
        for name in modules:
            importlib.import_module(name)
        return
    except ImportError as e:
        missing = e.name or str(e)
    if os.environ.get(_GUARD) is None and os.path.exists(DEBIAN_PYTHON) and \
            os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON):
        os.environ[_GUARD] = sys.executable
        script = os.path.abspath(sys.argv[0])
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, script] + sys.argv[1:])
    sys.exit("%s: cannot import %s (tried %s); install the Debian packages %s "
             "(scripts/deps.sh does)" % (os.path.basename(sys.argv[0]), missing,
                                         sys.executable, " ".join(packages)))
