"""The warming benchmark's pieces: first plays after an edit, and cuts per clip version.

- :mod:`~bench.fleet.layout`: pairs of clips to edit, packed onto registrations of the source.
- :mod:`~bench.fleet.first_play`: one server that warms and one that does not, edit then play.
- :mod:`~bench.fleet.cuts`: two replicas on one store, with a worker, without, without a store.

``bench.warming`` runs both; ``bench.report.warming`` writes their section of
docs/benchmarks.md.
"""
