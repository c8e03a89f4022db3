LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "verbose": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
        "simple": {"format": "%(levelname)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "simple", "level": "INFO"},
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": "/var/log/acme/app.log",
            "maxBytes": 10485760,
            "backupCount": 5,
            "formatter": "verbose",
        },
    },
    "loggers": {
        "acme": {"handlers": ["console", "file"], "level": "DEBUG", "propagate": False},
        "acme.db": {"handlers": ["file"], "level": "WARNING", "propagate": False},
        "urllib3": {"handlers": ["console"], "level": "ERROR"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
}
