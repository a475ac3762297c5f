"""Run every benchmark and write one JSON file per benchmark to benchmarks/results/.

.venv/bin/python benchmarks/run.py            # all
.venv/bin/python benchmarks/run.py sim link   # some
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hil.artifacts import write_atomic
from hil.cli import BENCHMARKS

OUT = Path(__file__).parent / "results"


def main(names: list[str]) -> int:
    wanted = names or [name for name, _, _ in BENCHMARKS]
    failed = []
    for name in wanted:
        print(f"== hil bench {name}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "hil.cli", "bench", name, "--json"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            failed.append(name)
            continue
        result = json.loads(proc.stdout)
        write_atomic(OUT / f"{name}.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(json.dumps(result, indent=2, sort_keys=True))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
