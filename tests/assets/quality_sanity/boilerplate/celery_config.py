broker_url = "redis://localhost:6379/0"
result_backend = "redis://localhost:6379/1"
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
task_acks_late = True
worker_prefetch_multiplier = 1
task_routes = {
    "shop.orders.tasks.send_receipt": {"queue": "email"},
    "shop.orders.tasks.charge_card": {"queue": "payments"},
    "shop.catalog.tasks.reindex": {"queue": "search"},
}
beat_schedule = {
    "reindex-nightly": {"task": "shop.catalog.tasks.reindex", "schedule": 86400.0},
    "expire-carts": {"task": "shop.orders.tasks.expire_carts", "schedule": 3600.0},
}
