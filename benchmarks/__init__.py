"""The likecounter benchmark suite. Run it with `python benchmarks/run.py` (or `nox -s bench`).

It is a program, not a test: nothing here is collected by pytest, and it is not shipped in the wheel.

- `harness.py`: timed loops over threads or asyncio tasks, latency percentiles, the median run.
- `workloads.py`: key generators (uniform, zipfian, one hot item) and bulk loading.
- `scenarios.py`: the cases that exercise likecounter (LikeCounter, AsyncLikeCounter), and storage.
- `baseline.py`: a naive client, one BEGIN/INSERT/UPSERT/COMMIT transaction per like.
- `pgbench.py`: the same SQL driven by PostgreSQL's own `pgbench`, as a ceiling.
- `report.py`: the table, the ratios and the JSON files in `benchmarks/results/`.
- `suite.py`: the command line and the order in which cases run.
"""
