from models import health


def check_health():
    return {"status": "ok"}


def check_readiness():
    return health.check_readiness()
