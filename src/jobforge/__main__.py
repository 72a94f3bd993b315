"""``python -m jobforge``: the same command line as the ``jobforge`` script.

``python -m`` puts the current directory first on ``sys.path``; the console
script does not. Plugins are imported by module name (``jobforge_dama``,
an entry point's module), so a file such as ``jobforge_dama.py`` lying in the
directory a user runs from would be imported instead of the real plugin. The
current directory is taken off ``sys.path`` before anything else is imported,
so both ways of running jobforge load the same code.
"""

import os
import sys

if sys.path and not sys.flags.safe_path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from jobforge.cli.app import run

if __name__ == "__main__":
    run()
