import pytest

from harness import Daemon


@pytest.fixture
def daemon_factory():
    made = []

    def make(**kwargs):
        d = Daemon(**kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.cleanup()


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory().start()
