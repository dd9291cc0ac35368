"""``python -m workflows.render [--write | --check]``: print, write or check the committed workflow YAML.

Regenerating is an explicit act (``--write``); CI only compares (the golden test, or ``--check``).
"""

from __future__ import annotations

import argparse
import sys

from workflows import catalog


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workflows.render", description=__doc__)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="rewrite workflows/<name>.yaml")
    group.add_argument("--check", action="store_true", help="exit 1 when a committed file is out of date")
    ap.add_argument("name", nargs="?", help="one file (default: all) when printing")
    args = ap.parse_args(argv)
    if args.write or args.check:
        stale = catalog.write_all(check=args.check)
        return 1 if args.check and stale else 0
    for name in [args.name] if args.name else list(catalog.FILES):
        sys.stdout.write(catalog.render_text(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
