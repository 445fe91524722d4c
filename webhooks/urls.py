"""Which webhook URLs PayDock will call (SSRF protection).

A URL must be https (http only when allowed), carry no credentials, and its host must
resolve, within a short time, only to public addresses (private, loopback,
link-local and other non-global addresses only when allowed). The check runs when an
endpoint is saved and again before every delivery, and the delivery connects to the
address that was checked, so a host that changes its DNS answer afterwards (DNS
rebinding) cannot point PayDock at an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# getaddrinfo cannot be interrupted, so lookups run here and the caller stops waiting
# after the timeout; the pool bounds how many slow lookups can pile up.
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why, for the API caller."""


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs may be called; the settings' `webhook_url_policy` is the one in force."""

    allow_http: bool = False
    allow_private: bool = False
    dns_timeout: float = 2.0


@dataclass(frozen=True)
class Target:
    """Where a delivery really connects: the checked address, with the URL's host name
    kept for the Host header and TLS (SNI and certificate check)."""

    url: str
    host_header: str
    server_name: str
    address: IPAddress


def split_url(url: str, policy: UrlPolicy) -> SplitResult:
    """The URL's parts, after the checks that need no network."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"}:
        raise UnsafeUrl("must start with https://")
    if scheme == "http" and not policy.allow_http:
        raise UnsafeUrl("must use https")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("must not contain credentials; verify the webhook signature instead")
    if not parts.hostname:
        raise UnsafeUrl("has no host")
    if port == 0:
        raise UnsafeUrl("has an invalid port")
    if not policy.allow_private:
        # The same setting that lets development point webhooks at local services.
        check_port(port)
    return parts


#: Ports a webhook URL may name: 80, 443, 8443, and 1025-65535 except these, where
#: well-known internal services listen (databases, caches, queues, cluster APIs).
SENSITIVE_PORTS = frozenset({
    1433, 1521, 2049, 2375, 2376, 2379, 2380, 3306, 3389, 4369, 5432, 5672, 5984, 6379, 6443,
    7001, 8086, 8500, 8600, 9000, 9042, 9092, 9200, 9300, 10250, 10255, 11211, 15672, 25565,
    27017, 27018, 28017,
})
LOW_PORTS = frozenset({80, 443})

NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def check_port(port: int | None) -> None:
    """UnsafeUrl for a port PayDock will not call (see SENSITIVE_PORTS)."""
    if port is None or port in LOW_PORTS:
        return
    if port <= 1024:
        raise UnsafeUrl(f"port {port} is not allowed: use 80, 443, 8443 or a port above 1024")
    if port in SENSITIVE_PORTS:
        raise UnsafeUrl(f"port {port} is not allowed: it is a well-known port of an internal service")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition address carries: IPv4-mapped (::ffff:a.b.c.d),
    IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96 and 64:ff9b:1::/48), 6to4
    (2002::/16) and Teredo (2001::/32, the client's address)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in NAT64) or (
            address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True for addresses on the public internet (not private, loopback, link-local, ...);
    an IPv6 address that carries an IPv4 address is judged by that IPv4 address too."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
        if inner is not None and address.ipv4_mapped is not None:
            address = inner
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Every address `host` resolves to; UnsafeUrl if it does not resolve within `timeout`."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        host.encode("idna")
    except UnicodeError:
        raise UnsafeUrl("has an invalid host name") from None
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, proto=socket.IPPROTO_TCP)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()
        raise UnsafeUrl(f"host {host!r} did not resolve within {timeout:g} s") from None
    except (OSError, UnicodeError, ValueError):
        raise UnsafeUrl(f"host {host!r} does not resolve") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrl(f"host {host!r} does not resolve")
    return addresses


def check_url(url: str, policy: UrlPolicy) -> Target:
    """Validate `url` now (syntax, scheme, DNS, addresses) and say where to connect."""
    parts = split_url(url, policy)
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port, policy.dns_timeout)
    if not policy.allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeUrl(
                f"host {host!r} resolves to a private, loopback or link-local address ({refused[0]})"
            )
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rsplit("@", 1)[-1]
    target_url = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    server_name = host.encode("idna").decode("ascii")
    return Target(url=target_url, host_header=host_header, server_name=server_name, address=address)
