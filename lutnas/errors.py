"""Exception types shared by every subpackage.

``InputError`` is a bad name, file, spec or value supplied by the user (CLI exit code 2);
``DeviceError`` is a failure of a device or its runtime (CLI exit code 1).
"""


class LutnasError(Exception):
    """Base class of every error lutnas raises on purpose."""


class InputError(LutnasError, ValueError):
    """Bad input: unknown name, unparsable file, invalid spec, schema mismatch."""


class DeviceError(LutnasError, RuntimeError):
    """A device, its runtime or an external tool failed."""
