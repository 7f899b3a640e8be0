# scenescout tasks. `just` lists them.

venv := ".venv"
py := venv / "bin/python"

default:
    @just --list

# create the virtual environment with the test and lint tools
setup:
    test -x {{py}} || python3 -m venv {{venv}}
    {{py}} -m pip install -q -e '.[dev]'

# crawl the built-in sandbox for a city (no keys needed)
crawl city="nyc": setup
    {{venv}}/bin/scenescout crawl --city {{city}} --sandbox

# run the test suite (unit + integration: real sockets, subprocesses, PostgreSQL)
test *args: setup
    {{venv}}/bin/pytest {{args}}

# ruff (ASYNC, B, PT, UP, SIM, RUF) and mypy
lint: setup
    {{venv}}/bin/ruff check scenescout_cli tests bench
    {{venv}}/bin/mypy scenescout_cli

# the benchmark suite (`scenescout bench`): issue #7's targets, full crawls of a sandbox
# served by its own process against the floor; JSON, markdown and traces under bench/results/
# (e.g. `just bench --sizes 10000,100000 --only throughput,help`)
bench *args: setup
    {{venv}}/bin/scenescout bench {{args}}

# normalisation and batched-upsert throughput (one run; read the ratios, not the seconds)
bench-store events="20000": setup
    {{py}} bench/ingest_store.py --events {{events}}

# de-duplication cost at 10k and 100k events (linear growth)
bench-dedup: setup
    {{py}} bench/dedup_scale.py

# ingestion's engine alone on a recorded sandbox crawl: µs and comparisons per record
# (`just bench-engine record pages.pkl --events 100000`, then `just bench-engine replay pages.pkl`)
bench-engine *args: setup
    {{py}} bench/engine_replay.py {{args}}

# classification events per second in the worker pool's job function
bench-classify: setup
    {{py}} bench/classify_speed.py

# precision and recall of de-duplication on the labelled pairs in fixtures/dedup/
eval-dedup: setup
    {{py}} bench/eval_dedup.py

# macro-F1 of the category classifier on a held-out split of fixtures/classify/
eval-classify: setup
    {{py}} bench/eval_classify.py

# image throughput: the worker pool against plain Pillow in one process
bench-images: setup
    {{py}} bench/images_pool.py
