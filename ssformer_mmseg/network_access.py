"""Who may reach a page we serve (the web app, the live stream): loopback
by default, ``USER:PASS`` authentication, and the warning when a server is
exposed beyond this machine without it."""
import ipaddress
import warnings
from typing import Optional, Tuple


class ExposedWithoutAuthWarning(UserWarning):
    """A server listens beyond this machine and asks for no login."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` serves this machine only."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(text: Optional[str]) -> Optional[Tuple[str, str]]:
    """``'USER:PASS'`` as ``(user, password)``; None stays None.

    Raises:
        ValueError: Without a colon, or with an empty user or password.
    """
    if text is None:
        return None
    user, colon, password = text.partition(':')
    if not colon or not user or not password:
        raise ValueError('authentication must be USER:PASS (both '
                         'non-empty)')
    return user, password


def warn_if_exposed(host: str,
                    auth: Optional[Tuple[str, str]],
                    what: str,
                    stacklevel: int = 3) -> None:
    """Warn (:class:`ExposedWithoutAuthWarning`) when ``host`` is not
    loopback and there is no ``auth``; ``what`` says what anyone who can
    reach the machine could then do.

    A warning, not a log record: logging may be configured to hide
    warnings, and this one is for whoever starts the server.
    """
    if not is_loopback(host) and auth is None:
        warnings.warn(
            f'serving on {host} without authentication: anyone who can '
            f'reach this machine can {what} (--auth USER:PASS asks for a '
            'password)',
            ExposedWithoutAuthWarning,
            stacklevel=stacklevel)
