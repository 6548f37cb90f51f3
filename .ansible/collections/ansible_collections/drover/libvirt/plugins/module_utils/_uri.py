# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Libvirt connection URIs: validation and construction.

Private to the drover.libvirt collection; no compatibility promise.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

TRANSPORTS = ("tcp", "ssh", "tls")
_EXTRA_TRANSPORTS = ("unix", "libssh", "libssh2")
_PATHS = ("/system", "/session")
_MIGRATION_SCHEMES = ("tcp", "rdma")


def _has_bad_chars(text):
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch in "\"'`<>\\;|$" for ch in text)


def valid_hostname(host):
    """True for an IPv4/IPv6 address or an RFC 1123 host name."""
    if not host or len(host) > 253:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    for label in labels:
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in label):
            return False
    return True


def parse_uri(uri, what="URI"):
    """Split a libvirt QEMU URI, or raise DroverError naming what is wrong with it."""
    if not isinstance(uri, str) or not uri:
        raise DroverError("%s must be a non-empty libvirt URI" % what)
    if _has_bad_chars(uri):
        raise DroverError("%s %r contains characters a libvirt URI cannot hold" % (what, uri))
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise DroverError("%s %r is malformed: %s" % (what, uri, exc))
    driver, _sep, transport = parts.scheme.partition("+")
    if driver != "qemu" or (transport and transport not in TRANSPORTS + _EXTRA_TRANSPORTS):
        raise DroverError("%s %r: scheme must be qemu or qemu+{%s}" % (
            what, uri, ",".join(TRANSPORTS + _EXTRA_TRANSPORTS)))
    if parts.path not in _PATHS:
        raise DroverError("%s %r: path must be one of %s" % (what, uri, ", ".join(_PATHS)))
    host = parts.hostname or ""
    if transport and transport != "unix" and not valid_hostname(host):
        raise DroverError("%s %r: remote transport %s needs a valid host name" % (what, uri, transport))
    if not transport and host:
        raise DroverError("%s %r: a remote host needs a transport (qemu+ssh://, qemu+tcp:// or qemu+tls://)"
                          % (what, uri))
    return {"uri": uri, "transport": transport or None, "host": host or None,
            "user": parts.username, "port": port, "path": parts.path, "query": parts.query}


def destination_uri(dest, transport="ssh", user=None, port=None):
    """The destination's libvirt URI: `dest` itself when it is a URI, else built from a host."""
    if "://" in dest:
        parsed = parse_uri(dest, "destination")
        if not parsed["host"]:
            raise DroverError("destination %r is a local URI; a migration needs a remote host" % dest)
        return dest
    if transport not in TRANSPORTS:
        raise DroverError("transport %r is not one of %s" % (transport, ", ".join(TRANSPORTS)))
    if not valid_hostname(dest):
        raise DroverError("destination %r is neither a libvirt URI nor a valid host name" % dest)
    netloc = dest if ":" not in dest.strip("[]") else "[%s]" % dest.strip("[]")
    if user:
        if _has_bad_chars(user) or "@" in user or "/" in user:
            raise DroverError("destination user %r is not a valid user name" % user)
        netloc = "%s@%s" % (user, netloc)
    if port:
        netloc = "%s:%d" % (netloc, port)
    uri = "qemu+%s://%s/system" % (transport, netloc)
    parse_uri(uri, "destination")
    return uri


def migration_uri(value):
    """Validate the optional data-stream address (tcp://host[:port]) on a dedicated network."""
    if _has_bad_chars(value):
        raise DroverError("migration_uri %r contains characters a URI cannot hold" % value)
    try:
        parts = urlsplit(value)
        parts.port  # pylint: disable=pointless-statement  # raises on a bad port
    except ValueError as exc:
        raise DroverError("migration_uri %r is malformed: %s" % (value, exc))
    if parts.scheme not in _MIGRATION_SCHEMES or not valid_hostname(parts.hostname or ""):
        raise DroverError("migration_uri %r must look like tcp://HOST[:PORT]" % value)
    return value
