"""Tables of the postgres lock backend (unused, but harmless, on SQLite).

Advisory locks take 64-bit keys; a table maps each lock name to its own key
(no hashing, so no collisions) and keeps its fencing token. Holder notes
and lockd holder tables live here too, so every host's dashboard sees them.
"""
from django.db import models


class LockName(models.Model):
    # A unique index on the name itself would refuse names over ~2.7 kB;
    # the sha256 is unique instead, and the name is compared on lookup.
    digest = models.CharField(max_length=64, unique=True)
    name = models.TextField()
    token = models.BigIntegerField(default=0)

    class Meta:
        db_table = "locks_name"

    def __str__(self):
        return self.name


class LockHolder(models.Model):
    """A holder (or waiter) note: written after the lock is taken, removed before release."""
    backend_pid = models.IntegerField(db_index=True)  # the PostgreSQL session holding the lock
    key = models.BigIntegerField()
    name = models.TextField()
    mode = models.CharField(max_length=10)
    state = models.CharField(max_length=10)
    pid = models.IntegerField()
    host = models.TextField()
    owner = models.TextField(null=True)
    since = models.DateTimeField()
    token = models.BigIntegerField(null=True)

    class Meta:
        db_table = "locks_holder"


class LockdTable(models.Model):
    """The holder table a lockd server on the postgres backend publishes."""
    backend_pid = models.IntegerField(unique=True)
    host = models.TextField()
    data = models.TextField()  # JSON, see locks.published
    updated = models.DateTimeField()

    class Meta:
        db_table = "locks_lockd"
