"""PayDock benchmarks: load scenarios measured as ratios against a bare baseline app.

`make bench` (or `python bench/run.py`) starts PostgreSQL, seeds it, serves PayDock and
`bench.baseline` under the production gunicorn settings, drives both with wrk and
writes `bench/RESULTS.md`.
"""
