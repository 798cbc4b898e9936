import os
import sys

try:
    from toolkit.cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI's modules load: the same exit as any other moment
    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    # os._exit, not SystemExit: a Ctrl-C that lands inside exec() (dataclasses build their methods
    # that way) makes CPython end the process by SIGINT even after the exception was handled.
    # Nothing has started yet, so there is nothing to clean up.
    os._exit(130)

main()
