"""Reading /metrics the way Prometheus does: with prometheus_client's parser."""
from prometheus_client.parser import text_string_to_metric_families


def scrape(client, **request):
    """{(sample name, ((label, value), ...)): value} of one /metrics answer,
    and the families by name (for their types)."""
    response = client.get("/metrics", **request)
    assert response.status_code == 200, response.status_code
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in families.values() for sample in family.samples}
    return samples, families


def sample(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]
