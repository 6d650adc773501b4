"""Run every ``benchmarks/bench_*.py`` and print one table of medians and ratios.

Usage: ``python benchmarks/run.py [--quick] [name-substring ...]``
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from harness import format_table  # noqa: E402


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    rows = []
    for path in sorted(pathlib.Path(__file__).parent.glob("bench_*.py")):
        if wanted and not any(w in path.stem for w in wanted):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        for case in module.cases(quick):
            row = case.measure(repeat=3 if quick else 7, number=3 if quick else 20)
            rows.append(row)
            print(
                format_table([row]).splitlines()[1:] and "\n".join(format_table([row]).splitlines()[1:]),
                flush=True,
            )
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
