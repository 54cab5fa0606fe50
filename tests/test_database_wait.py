"""A worker's database writes wait out an outage instead of failing."""
import pytest
from django.db import OperationalError, transaction

from trophies.services import database_wait


def flaky(failures):
    calls = []

    @database_wait.waits_for_database
    def write():
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("server closed the connection unexpectedly")
        return "written"
    return write, calls


def test_a_write_runs_again_once_the_database_answers(transactional_db):
    write, calls = flaky(failures=2)
    assert write() == "written" and len(calls) == 3


def test_inside_a_transaction_the_error_goes_to_its_owner(transactional_db):
    write, calls = flaky(failures=1)
    with pytest.raises(OperationalError), transaction.atomic():
        write()
    assert len(calls) == 1


def test_past_the_deadline_the_error_goes_to_rq(transactional_db, monkeypatch):
    monkeypatch.setattr(database_wait, "WAIT_S", 0)
    write, calls = flaky(failures=5)
    with pytest.raises(OperationalError):
        write()
    assert len(calls) == 1
