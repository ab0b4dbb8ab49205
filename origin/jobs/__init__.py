"""Background work on PostgreSQL jobs (procrastinate): warming, exports, maintenance.

- ``queue.py``: putting jobs in (registration, edits, the export API) and
  reading queue depth; any process with the database can do it.
- ``app.py``: the procrastinate app: which task runs on which queue, with
  which retries, and the periodic maintenance tick.
- ``tasks.py`` (warm), ``exports.py``, ``maintenance.py``: the job bodies.
- ``runtime.py``: what a job body works with (settings, database, clip pool).
- ``worker.py``: ``origin worker``, and the worker ``origin serve`` runs in
  process with ``ORIGIN_WORKER=inline``.
"""

#: The queues jobs go to; ``origin worker`` takes them all unless told otherwise.
QUEUES = ("warm", "export", "maintenance")
