"""TLS client contexts, built once per process and CA bundle.

Every httpx client builds an SSL context when it is made, even for a plain-http URL, and loading the CA
bundle into one costs about 30 ms (more on a busy node). An incarnation makes several clients (the checkpoint
store's, the model's, the peers'), and the forkserver makes it cheap to start many incarnations: so contexts
are cached here and preloaded by the forkserver (pod_supervisor/preload.py), and every incarnation forked from
it inherits them ready. A context is not changed once built, so clients may share it.
"""

import functools
import ssl


def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Verifies servers against `ca_file`, or against the bundle httpx trusts by default (certifi, or what
    SSL_CERT_FILE / SSL_CERT_DIR name)."""
    # One cache key for `client_context()` and `client_context(None)`: functools.cache keys the two calls
    # apart, and the Kubernetes client's `client_context(None)` missed the context the forkserver preloaded.
    return _context(ca_file)


@functools.cache
def _context(ca_file: str | None) -> ssl.SSLContext:
    if ca_file is not None:
        return ssl.create_default_context(cafile=ca_file)
    import httpx

    return httpx.create_ssl_context()
