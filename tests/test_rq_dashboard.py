"""django-rq's dashboard under /django-rq/: indexes past the end and
workers that do not exist answer 404 with a message, never 500."""
import pytest
from django.test import Client
from django_rq.settings import get_queues_list


@pytest.fixture
def client(admin_client):
    return admin_client


@pytest.mark.parametrize("url, message", [
    ("/django-rq/queues/5/", "There is no queue number 5"),
    ("/django-rq/queues/99/details/", "There is no queue number 99"),
    ("/django-rq/queues/7/failed/", "There is no queue number 7"),
    ("/django-rq/queues/9/some-job/", "There is no queue number 9"),
    ("/django-rq/workers/5/", "There is no queue number 5"),
    ("/django-rq/workers/0/nonexistent/", "There is no worker 'nonexistent'"),
    ("/django-rq/workers/0/rq:worker:gone/", "There is no worker 'rq:worker:gone'"),
    ("/django-rq/schedulers/5/", "There is no queue number 5"),
    ("/django-rq/cron-schedulers/7/nightly/", "There is no Redis connection number 7"),
])
def test_unknown_queues_and_workers_are_404_with_a_message(client, url, message):
    assert len(get_queues_list()) < 5
    response = client.get(url)
    assert response.status_code == 404, response.status_code
    assert message in response.content.decode()


@pytest.mark.parametrize("url", ["/django-rq/", "/django-rq/queues/0/", "/django-rq/workers/0/",
                                 "/django-rq/queues/0/details/"])
def test_the_dashboard_still_answers(client, url):
    assert client.get(url).status_code == 200


def test_visitors_who_are_not_staff_are_sent_to_log_in(db):
    response = Client().get("/django-rq/queues/5/")
    assert response.status_code == 302 and "login" in response["Location"]
