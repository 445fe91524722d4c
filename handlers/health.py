from models import health


def check():
    return health.check_database(), 200
