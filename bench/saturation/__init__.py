"""The responsiveness benchmark's pieces: cheap answers timed while the pool is saturated.

- :mod:`~bench.saturation.model`: the pool's settings, the kinds of answer, what a phase records.
- :mod:`~bench.saturation.procfs`: CPU time and threads' scheduling, from /proc.
- :mod:`~bench.saturation.clips`: which clip plays which part, and the requests for each kind.
- :mod:`~bench.saturation.clients`: the sampler, the 429 sampler, the load, the poller.
- :mod:`~bench.saturation.phase`: one phase, all of them at once, and the server's side.

``bench.responsiveness`` starts the servers and runs the phases;
``bench.report.responsiveness`` writes their section of docs/benchmarks.md.
"""
