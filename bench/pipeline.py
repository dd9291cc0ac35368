"""Benchmark: medallion pipeline throughput (rows/s) for N generated leads (default 1M).

Not a test. Generates the raw data, runs the job (``--source files``: no PostgreSQL in the timed
path) in a subprocess bounded by ``--timeout`` (its process group is killed on expiry), then prints
the commands and the result as JSON::

    uv run python bench/pipeline.py --rows 1000000 --timeout 2400
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    """Run the benchmark; exit 1 on timeout or failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=2400.0, help="seconds allowed for the pipeline run")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--driver-memory",
        default="8g",
        help="LEADSCORE_SPARK_DRIVER_MEMORY for the job (a 3g heap runs out at 1M leads)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep WORKDIR/raw when it holds a generated data set (its manifest.json) of --rows",
    )
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    raw, lake = work / "raw", work / "lake"

    gen_cmd = [
        sys.executable,
        "-m",
        "leadscore.cli",
        "data",
        "generate",
        "--rows",
        str(args.rows),
        "--seed",
        str(args.seed),
        "--out",
        str(raw),
        "--json",
    ]
    gen_cmd = [sys.executable, "-c", "from leadscore.cli import main; main()", *gen_cmd[3:]]
    print("$ leadscore " + shlex.join(gen_cmd[3:]), file=sys.stderr, flush=True)
    t0 = time.monotonic()
    old = json.loads((raw / "manifest.json").read_text()) if (raw / "manifest.json").is_file() else None
    if args.reuse and old is not None and old.get("rows") == args.rows and old.get("seed") == args.seed:
        manifest, gen_s = old, None
        print(f"  reusing {raw} (same rows and seed)", file=sys.stderr, flush=True)
    else:
        manifest = json.loads(subprocess.run(gen_cmd, check=True, capture_output=True, text=True).stdout)
        gen_s = round(time.monotonic() - t0, 1)
    shutil.rmtree(lake, ignore_errors=True)

    job_cmd = [sys.executable, "-m", "leadscore.lakehouse.job", "--source", "files", str(raw), "--lake", str(lake)]
    print("$ python " + shlex.join(job_cmd[1:]), file=sys.stderr, flush=True)
    t1 = time.monotonic()
    job_log = work / "pipeline.log"
    with job_log.open("w") as log:
        env = {**os.environ, "LEADSCORE_SPARK_DRIVER_MEMORY": args.driver_memory}
        proc = subprocess.Popen(job_cmd, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True, env=env)
    try:
        out, _ = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        print(json.dumps({"rows": args.rows, "error": f"pipeline exceeded {args.timeout:.0f}s"}))
        return 1
    wall = time.monotonic() - t1
    if proc.returncode != 0:
        tail = job_log.read_text()[-2000:]
        print(json.dumps({"rows": args.rows, "error": f"pipeline exited {proc.returncode}", "log_tail": tail}))
        return 1
    report = json.loads(out)
    lines = report["counts"]["bronze/crm_leads"]["in"]
    events = report["counts"].get("bronze/web_events", {}).get("in", 0)
    result = {
        "rows": args.rows,
        "lead_lines": lines,
        "event_lines": events,
        "generate_s": gen_s,
        "pipeline_s": report["seconds"],
        "wall_s_incl_spark_start": round(wall, 1),
        "lead_rows_per_s": round(lines / report["seconds"]),
        "all_rows_per_s": round((lines + events) / report["seconds"]),
        "gold_rows": report["counts"]["gold/lead_features"]["out"],
        "versions": report["versions"],
        "timings": report["timings"],
        "base_rate": manifest["base_rate"],
        "load_avg": os.getloadavg(),
        "cpus": os.cpu_count(),
        "driver_memory": args.driver_memory,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
