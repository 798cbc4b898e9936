import sys

try:
    from toolkit.cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI's modules load: the same exit as any other moment
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None

main()
