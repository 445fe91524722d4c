import observability


def get_metrics():
    body, content_type = observability.exposition()
    return body.decode("utf-8"), 200, {"Content-Type": content_type}
