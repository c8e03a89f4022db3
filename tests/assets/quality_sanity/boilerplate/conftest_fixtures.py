import pytest

from acme_widgets.client import Client
from acme_widgets.config import Config


@pytest.fixture
def config(tmp_path):
    return Config(host="localhost", port=8443, cache_dir=str(tmp_path), verify_tls=False)


@pytest.fixture
def client(config):
    c = Client(config)
    yield c
    c.close()


@pytest.fixture
def admin_client(config):
    c = Client(config, user="admin", password="admin")
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setenv("ACME_OFFLINE", "1")


@pytest.fixture(params=["json", "yaml", "toml"])
def fmt(request):
    return request.param
