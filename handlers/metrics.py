from paydock import observability


def get_metrics():
    # The classic Prometheus text format; `text/plain` is how every Prometheus version knows it.
    return observability.exposition().decode("utf-8"), 200, {"Content-Type": "text/plain"}
