"""`python -m conformance.schemas extract SPEC [--out DIR] [--errata FILE] [--check]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.protocol.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m conformance.schemas")
    commands = parser.add_subparsers(dest="command", required=True)
    extract = commands.add_parser(
        "extract", help="regenerate fixtures/schemas/ from the official OpenAPI spec"
    )
    extract.add_argument("spec", type=Path, help="path to openai-openapi.yaml")
    extract.add_argument(
        "--out", type=Path, default=None, help="bundle folder (default: fixtures/schemas)"
    )
    extract.add_argument(
        "--errata", type=Path, default=None, help="errata file (default: <out>/errata.yaml)"
    )
    extract.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the bundle on disk is stale"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    args = _parser().parse_args(argv)
    from conformance.schemas import _extract  # lazy: pulls in PyYAML and the spec loader

    out: Path = args.out
    if out is None:
        from conformance.resources import schemas_dir

        out = schemas_dir()
    errata_path: Path = args.errata or out / "errata.yaml"
    try:
        spec, raw = _extract.load_spec(args.spec)
        files = _extract.build_bundle(
            spec, raw, _extract.load_errata(errata_path), spec_name=args.spec.name
        )
    except (OSError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = _extract.stale_files(files, out)
        for path in stale:
            print(f"stale: {out / path}")
        if stale:
            print(f"{len(stale)} file(s) out of date; re-run without --check", file=sys.stderr)
        return 1 if stale else 0
    changed = _extract.write_bundle(files, out)
    print(f"{len(files)} files in {out}; {len(changed)} written or removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
