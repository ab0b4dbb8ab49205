"""docs/benchmarks.md: what the benchmarks write, and how.

- :mod:`~bench.report.page`: the file, its marked sections, the machine's facts.
- :mod:`~bench.report.figures`: what the latency run collects; durations as the tables write them.
- :mod:`~bench.report.latency`: the whole page that ``bench.clip_latency`` writes.
- :mod:`~bench.report.breakdown`: its "where the time goes" tables and smart-cut section.
- :mod:`~bench.report.responsiveness`: the section that ``bench.responsiveness`` writes.
- :mod:`~bench.report.warming`: the section that ``bench.warming`` writes.
- :mod:`~bench.report.cold_start`: the section that ``bench.cold_start`` writes.
- :mod:`~bench.report.client_styles`, :mod:`~bench.report.smartcut_peer`,
  :mod:`~bench.report.registration`: the sections those benchmarks write.
- :mod:`~bench.report.long_gop`: the section that ``bench.long_gop`` writes.
"""
