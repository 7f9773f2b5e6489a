# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Latency of the Space on CPU: the first request (the model loads), a warm request, and what a second user waits
when two ask at once.

    python benchmarks/benchmark_space.py [--model demo] [--video examples/demo.mp4] [--repeats 5]

Starts `python -m sherlock.space` on a free local port (default settings: one analysis at a time) and sends requests
through `gradio_client` (the same queue as the browser). Prints the seconds of each figure (median of `--repeats`
for the warm and the concurrent ones). Two users at once: both send the example within 50 ms; the second user's wait
is its time to answer minus the first user's (the Space runs one analysis at a time by default). Warm requests reuse
the feature cache (the same video's extractor outputs), as repeated requests for the bundled example do on a Space.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="SHERLOCK_MODEL of the Space (default: the demo model)")
    parser.add_argument("--video", default=str(ROOT / "examples" / "demo.mp4"))
    parser.add_argument("--repeats", type=int, default=5)
    return parser.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ask(client, video: str) -> float:
    from gradio_client import handle_file

    start = time.perf_counter()
    client.predict(handle_file(video), "", 8, 0, api_name="/run")
    return time.perf_counter() - start


def main(argv=None) -> dict:
    args = parse_args(argv)
    from gradio_client import Client

    port = _free_port()
    home = tempfile.mkdtemp(prefix="sherlock-space-bench-")
    env = {**os.environ, "SHERLOCK_MODEL": args.model, "SHERLOCK_HOME": home, "GRADIO_ANALYTICS_ENABLED": "False"}
    env["PYTHONPATH"] = str(ROOT)
    server = subprocess.Popen(
        [sys.executable, "-m", "sherlock.space", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the Space did not start") from None
                time.sleep(0.3)
        # the demo model is built on first use: build it before timing, so "first request" is a model load
        if args.model == "demo":
            subprocess.run(
                [sys.executable, "-c", "from sherlock.demo import ensure_demo_model; ensure_demo_model()"],
                env=env,
                check=True,
                capture_output=True,
            )
        clients = [Client(url, verbose=False), Client(url, verbose=False)]
        first = _ask(clients[0], args.video)
        _ask(clients[0], args.video)  # not timed: the first cached pass
        warm = statistics.median(_ask(clients[0], args.video) for _ in range(args.repeats))
        second = []
        for _ in range(args.repeats):
            times = {}
            threads = [
                threading.Thread(target=lambda i=i, times=times: times.__setitem__(i, _ask(clients[i], args.video)))
                for i in (0, 1)
            ]
            for thread in threads:
                thread.start()
                time.sleep(0.05)  # user 1 is first in the queue
            for thread in threads:
                thread.join()
            second.append((times[0], times[1]))
        figures = {
            "first_request_s": round(first, 2),
            "warm_request_s": round(warm, 2),
            "two_at_once_first_user_s": round(statistics.median(t for t, _ in second), 2),
            "two_at_once_second_user_s": round(statistics.median(t for _, t in second), 2),
            "second_user_wait_s": round(statistics.median(t2 - t1 for t1, t2 in second), 2),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"Space on {os.cpu_count()} CPU core(s), model {args.model}, video {Path(args.video).name}:")
    for name, value in figures.items():
        print(f"  {name}: {value}")
    return figures


if __name__ == "__main__":
    main()
