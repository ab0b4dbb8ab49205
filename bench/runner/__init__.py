"""What the benchmarks run on.

- :mod:`~bench.runner.timing`: a timed GET over a raw socket (fresh or kept
  alive), a timed ffmpeg run.
- :mod:`~bench.runner.clients`: the same GET timed through curl and http.client.
- :mod:`~bench.runner.stats`: medians and percentiles of those timings.
- :mod:`~bench.runner.processes`: free ports, servers in the background, the
  benchmark's own process (SIGTERM, Ctrl-C).
- :mod:`~bench.runner.source`: the generated 1080p source and the clips cut from it.
- :mod:`~bench.runner.long_source`: the generated two-hour source (registration).
- :mod:`~bench.runner.output_check`: a cut clip's frame count and first-frame PSNR.
- :mod:`~bench.runner.smartcut_env`: the ``smartcut`` CLI in a venv of its own.
- :mod:`~bench.runner.origin`: a scratch ORIGIN_HOME, its private cluster, origin servers.
- :mod:`~bench.runner.worker`: ``origin worker`` with its metrics endpoint.
- :mod:`~bench.runner.api`: the edit API (move-cut).
- :mod:`~bench.runner.metrics`: scraping ``/metrics``, summing and waiting for counters.
- :mod:`~bench.runner.nginx`: nginx with its mp4 module.
- :mod:`~bench.runner.stage`: everything the latency benchmark starts, for its contenders.
"""
