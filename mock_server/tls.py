"""TLS for the mock: `wss://` and `https://` with a local CA clients can be told to trust.

    files = local_tls()            # $XDG_CACHE_HOME/realtime-conformance/tls, made if needed
    context = server_context(files)
    trust_env(files)               # {"NODE_EXTRA_CA_CERTS": ".../ca.pem", "SSL_CERT_FILE": ...}

`local_tls` keeps a small certificate authority (`ca.pem`, `ca-key.pem`) and a server
certificate it signed (`cert.pem`, `key.pem`) for 127.0.0.1, ::1 and localhost in a cache
folder, and reuses them while they are valid: a client told once to trust `ca.pem` keeps
trusting the mock. An expired, mismatched or unreadable file is replaced (a new server
certificate from the same CA when the CA is still good). Private keys are written 0600,
the folder 0700; a lock file serialises processes that start at the same moment.

Generating certificates needs the `cryptography` package (the `tls` extra); serving your
own files (`own_tls`, `realtime-mock serve --cert/--key`) needs only the standard library.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from conformance.protocol.errors import UsageError
from mock_server._log import logger

if TYPE_CHECKING:
    from cryptography import x509

FOLDER_NAME: Final = ("realtime-conformance", "tls")
CA_FILE: Final = "ca.pem"
CA_KEY_FILE: Final = "ca-key.pem"
CERT_FILE: Final = "cert.pem"
KEY_FILE: Final = "key.pem"
LOCK_FILE: Final = ".lock"
HOSTS: Final = ("localhost",)
ADDRESSES: Final = ("127.0.0.1", "::1")
CA_DAYS: Final = 3650
CERT_DAYS: Final = 365
# Replaced this long before they expire, so a long test run never sees one expire.
CA_MARGIN: Final = dt.timedelta(days=30)
CERT_MARGIN: Final = dt.timedelta(days=7)
BACKDATE: Final = dt.timedelta(hours=1)  # a client whose clock is a little behind still accepts
EXTRA_MESSAGE: Final = (
    "generating the mock's TLS certificate needs the 'tls' extra: "
    "pip install 'realtime-conformance[tls]' (or give your own --cert FILE --key FILE)"
)
TRUST_VARIABLES: Final = ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A server certificate chain, its key, and the file a client trusts (`ca`)."""

    cert: Path
    key: Path
    ca: Path


def tls_dir() -> Path:
    """`$XDG_CACHE_HOME/realtime-conformance/tls`, else `~/.cache/realtime-conformance/tls`."""
    cache = os.environ.get("XDG_CACHE_HOME") or ""
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base.joinpath(*FOLDER_NAME)


def trust_env(files: TlsFiles) -> dict[str, str]:
    """The variables that make Node (`NODE_EXTRA_CA_CERTS`, added to its CAs) and Python's
    `ssl` default context, OpenSSL and httpx (`SSL_CERT_FILE`, instead of the system's CAs)
    trust the server."""
    return dict.fromkeys(TRUST_VARIABLES, str(files.ca))


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A TLS server context serving `files.cert` with `files.key`.

    Raises:
        UsageError: a file is missing or unreadable, or the key does not match the cert.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except FileNotFoundError as exc:
        raise UsageError(f"TLS: no such file: {exc.filename}") from None
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise UsageError(
            f"TLS: cannot serve the certificate {files.cert} with the key {files.key}: {why} "
            "(expected PEM files: the certificate chain, and its unencrypted private key)"
        ) from None
    return context


def own_tls(cert: Path, key: Path, ca: Path | None = None) -> TlsFiles:
    """Your own certificate and key (`--cert/--key`); clients trust `ca` (default: `cert`).

    Raises:
        UsageError: the files cannot be served together (`server_context`).
    """
    files = TlsFiles(cert=cert.resolve(), key=key.resolve(), ca=(ca or cert).resolve())
    server_context(files)
    return files


def local_tls(folder: Path | None = None, *, now: dt.datetime | None = None) -> TlsFiles:
    """The cached local CA and server certificate in `folder` (default `tls_dir()`),
    made or replaced when missing, expiring, unreadable or mismatched.

    Raises:
        UsageError: the `cryptography` package is missing (the `tls` extra), or the
            folder cannot be written.
    """
    try:
        from cryptography import x509  # noqa: F401 - checked here: one line if missing
    except ImportError:
        raise UsageError(EXTRA_MESSAGE) from None
    folder = (folder or tls_dir()).resolve()
    moment = now or dt.datetime.now(dt.UTC)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(folder / LOCK_FILE):
            return _ensure(folder, moment)
    except OSError as exc:
        raise UsageError(
            f"TLS: cannot keep the mock's certificates in {folder}: {exc.strerror or exc}; "
            "set XDG_CACHE_HOME (or --tls-dir) to a writable folder"
        ) from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _ensure(folder: Path, now: dt.datetime) -> TlsFiles:
    files = TlsFiles(cert=folder / CERT_FILE, key=folder / KEY_FILE, ca=folder / CA_FILE)
    ca = _load_ca(folder, now)
    if ca is None:
        logger.info("TLS: making a new local CA in %s", folder)
        ca = _new_ca(now)
        _write(files.ca, _cert_pem(ca[0]), private=False)
        _write(folder / CA_KEY_FILE, _key_pem(ca[1]), private=True)
    elif _leaf_ok(files, ca[0], now):
        for secret in (files.key, folder / CA_KEY_FILE):
            if secret.stat().st_mode & 0o077:
                secret.chmod(0o600)
        return files
    logger.info("TLS: making a new server certificate in %s", folder)
    cert, key = _new_leaf(*ca, now)
    _write(files.key, _key_pem(key), private=True)
    _write(files.cert, _cert_pem(cert), private=False)
    return files


def _load_ca(folder: Path, now: dt.datetime) -> tuple[x509.Certificate, Any] | None:
    """The cached CA and its key, if both load, match and stay valid past the margin."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate((folder / CA_FILE).read_bytes())
        key = serialization.load_pem_private_key((folder / CA_KEY_FILE).read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return None
    if not _current(cert, now, CA_MARGIN) or key.public_key() != cert.public_key():
        return None
    return cert, key


def _leaf_ok(files: TlsFiles, ca: x509.Certificate, now: dt.datetime) -> bool:
    """The cached server certificate: signed by `ca`, valid past the margin, names every
    host, and its key matches."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), None)
        cert.verify_directly_issued_by(ca)  # another CA's (an older cache), or tampered
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    wanted = set(_names())
    return (
        _current(cert, now, CERT_MARGIN)
        and key.public_key() == cert.public_key()
        and wanted <= set(names)
    )


def _current(cert: x509.Certificate, now: dt.datetime, margin: dt.timedelta) -> bool:
    return cert.not_valid_before_utc <= now and now + margin < cert.not_valid_after_utc


def _names() -> list[x509.GeneralName]:
    from cryptography import x509

    return [
        *(x509.DNSName(host) for host in HOSTS),
        *(x509.IPAddress(ipaddress.ip_address(address)) for address in ADDRESSES),
    ]


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())  # fast to make, fast handshakes


def _new_ca(now: dt.datetime) -> tuple[x509.Certificate, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "realtime-conformance"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"realtime-mock local CA {now:%Y-%m-%d}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_leaf(ca: x509.Certificate, ca_key: Any, now: dt.datetime) -> tuple[x509.Certificate, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = _new_key()
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + dt.timedelta(days=CERT_DAYS), ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_names()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write `path` whole or not at all (a temporary file renamed), 0600 when `private`."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp makes it 0600
            file.write(data)
        if not private:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
