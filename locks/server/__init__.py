"""lockd: the old lock daemon's line protocol over the ``locks`` locks.

``python manage.py lockd [--bind HOST:PORT]`` runs ``locks.server.main.serve``.
Modules: ``protocol`` (a connection: lines in, replies out), ``commands``
(one method per command, the exact reply texts), ``table`` / ``pgtable``
(who holds what, granted by flock or by PostgreSQL), ``fdpool`` (lock file
descriptions), ``stats`` (``q``), ``publish`` (the holder table the
dashboard reads).
"""
