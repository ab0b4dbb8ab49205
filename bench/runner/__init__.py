"""What the benchmarks run on.

- :mod:`~bench.runner.timing`: a timed GET over a raw socket, a timed ffmpeg run.
- :mod:`~bench.runner.stats`: medians and percentiles of those timings.
- :mod:`~bench.runner.processes`: free ports, servers in the background, the
  benchmark's own process (SIGTERM, Ctrl-C).
- :mod:`~bench.runner.source`: the generated 1080p source and the clips cut from it.
- :mod:`~bench.runner.origin`: a scratch ORIGIN_HOME, its private cluster, origin servers.
- :mod:`~bench.runner.worker`: ``origin worker`` with its metrics endpoint.
- :mod:`~bench.runner.api`: the edit API (move-cut).
- :mod:`~bench.runner.metrics`: scraping ``/metrics``, summing and waiting for counters.
- :mod:`~bench.runner.nginx`: nginx with its mp4 module.
- :mod:`~bench.runner.stage`: everything the latency benchmark starts, for its contenders.
"""
