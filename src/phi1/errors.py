"""The one exception type users see.

Library code raises :class:`Phi1Error` with a message that names the file, line or field at
fault; the CLI prints it as one line and exits non-zero. Library code never calls sys.exit.
"""


class Phi1Error(Exception):
    """A user-facing error: bad input, a missing file, an unknown name."""
