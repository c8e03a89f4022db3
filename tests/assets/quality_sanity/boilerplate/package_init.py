from ._version import __version__
from .client import Client, AsyncClient
from .config import Config, load_config
from .errors import (
    AcmeError,
    AuthenticationError,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    ValidationError,
)
from .models import Invoice, Customer, Product, Order, LineItem
from .pagination import Page, paginate

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "Config",
    "load_config",
    "AcmeError",
    "AuthenticationError",
    "ConnectionError",
    "NotFoundError",
    "RateLimitError",
    "ValidationError",
    "Invoice",
    "Customer",
    "Product",
    "Order",
    "LineItem",
    "Page",
    "paginate",
]
