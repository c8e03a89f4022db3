# Generated from errors.yaml by scripts/gen_errors.py -- do not edit.
E_OK = 0
E_UNKNOWN = 1
E_TIMEOUT = 2
E_CONNECTION_REFUSED = 3
E_HOST_UNREACHABLE = 4
E_TLS_HANDSHAKE = 5
E_AUTH_REQUIRED = 10
E_AUTH_INVALID = 11
E_AUTH_EXPIRED = 12
E_FORBIDDEN = 13
E_NOT_FOUND = 20
E_CONFLICT = 21
E_GONE = 22
E_PRECONDITION = 23
E_RATE_LIMITED = 30
E_QUOTA_EXCEEDED = 31
E_INTERNAL = 40
E_UNAVAILABLE = 41
E_MAINTENANCE = 42

MESSAGES = {
    E_OK: "ok",
    E_UNKNOWN: "unknown error",
    E_TIMEOUT: "timed out",
    E_CONNECTION_REFUSED: "connection refused",
    E_HOST_UNREACHABLE: "host unreachable",
    E_TLS_HANDSHAKE: "TLS handshake failed",
    E_AUTH_REQUIRED: "authentication required",
    E_AUTH_INVALID: "invalid credentials",
    E_AUTH_EXPIRED: "credentials expired",
    E_FORBIDDEN: "forbidden",
    E_NOT_FOUND: "not found",
    E_CONFLICT: "conflict",
    E_GONE: "gone",
    E_PRECONDITION: "precondition failed",
    E_RATE_LIMITED: "rate limited",
    E_QUOTA_EXCEEDED: "quota exceeded",
    E_INTERNAL: "internal error",
    E_UNAVAILABLE: "service unavailable",
    E_MAINTENANCE: "down for maintenance",
}
