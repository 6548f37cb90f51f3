# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Libvirt connection URIs: validation, construction, and what makes one insecure.

Secure by default: a URI that sends the libvirt control connection in clear (qemu+tcp://),
turns off a check of the other side, or names a program for libvirt to run is refused unless
the task sets allow_insecure_transport. A URI never carries a password.
Private to the drover.libvirt collection; no compatibility promise.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError, quoted

TRANSPORTS = ("tcp", "ssh", "tls")
# libvirt's tcp transport encrypts nothing and, unless SASL is set up on the daemon, authenticates nobody.
INSECURE_TRANSPORTS = ("tcp",)
INSECURE_SWITCH = "allow_insecure_transport"
_EXTRA_TRANSPORTS = ("unix", "libssh", "libssh2")
_PATHS = ("/system", "/session")
_MIGRATION_SCHEMES = ("tcp", "rdma")
# libvirt's remote URI parameters (libvirt.org/uri.html) that change neither who is trusted nor what runs.
_PARAMS = ("name", "mode", "proxy", "socket", "keyfile", "sshauth", "no_tty", "pkipath", "known_hosts",
           "known_hosts_verify", "no_verify", "tls_priority", "command", "netcat")
# user:password@ in a URI, for masking it in messages.
_PASSWORD = re.compile(r"^([A-Za-z0-9+.-]+://[^/@]*?):[^/@]*@")


def _has_bad_chars(text):
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch in "\"'`<>\\;|$" for ch in text)


def redacted(uri):
    """The URI with a password in it replaced by asterisks, for messages."""
    return _PASSWORD.sub(r"\1:********@", uri) if isinstance(uri, str) else uri


def uri_passwords(uri):
    """The passwords a URI-like string carries (user:password@host), to be masked in output."""
    if not isinstance(uri, str) or "://" not in uri:
        return []
    try:
        password = urlsplit(uri).password
    except ValueError:
        return []
    return [password] if password else []


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


def _insecure_params(query, what, shown):
    """Why the URI's parameters make it insecure ([] when they do not); DroverError for bad ones."""
    try:
        params = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise DroverError("%s %s has a malformed query %s" % (what, shown, quoted(query)))
    names = [key for key, _value in params]
    for key in names:
        if key not in _PARAMS:
            raise DroverError("%s %s: unknown libvirt URI parameter %s; known: %s"
                              % (what, shown, quoted(key), ", ".join(sorted(_PARAMS))))
        if names.count(key) > 1:
            raise DroverError("%s %s gives parameter %s twice" % (what, shown, quoted(key)))
    values = dict(params)
    reasons = []
    if values.get("no_verify", "0") != "0":
        reasons.append("no_verify=%s turns off the check of the server's certificate" % values["no_verify"])
    if values.get("known_hosts_verify") == "ignore":
        reasons.append("known_hosts_verify=ignore accepts any SSH host key")
    for key, runs in (("command", "a program libvirt runs instead of ssh"), ("netcat", "a command run on the remote host")):
        if key in values:
            reasons.append("%s=%s names %s" % (key, values[key], runs))
    return reasons


def parse_uri(uri, what="URI"):
    """Split a libvirt QEMU URI, or raise DroverError naming what is wrong with it.

    The result's `insecure` lists why the URI is not secure (see refuse_insecure); empty when it is.
    """
    if not isinstance(uri, str) or not uri:
        raise DroverError("%s must be a non-empty libvirt URI" % what)
    shown = quoted(redacted(uri))
    if _has_bad_chars(uri):
        raise DroverError("%s %s contains characters a libvirt URI cannot hold" % (what, shown))
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise DroverError("%s %s is malformed: %s" % (what, shown, exc))
    if parts.password is not None:
        raise DroverError("%s %s carries a password; libvirt authenticates with SSH keys or TLS certificates, "
                          "never a password in the URI" % (what, shown))
    driver, _sep, transport = parts.scheme.partition("+")
    if driver != "qemu" or (transport and transport not in TRANSPORTS + _EXTRA_TRANSPORTS):
        raise DroverError("%s %s: scheme must be qemu or qemu+{%s}" % (
            what, shown, ",".join(TRANSPORTS + _EXTRA_TRANSPORTS)))
    if parts.path not in _PATHS:
        raise DroverError("%s %s: path must be one of %s" % (what, shown, ", ".join(_PATHS)))
    if parts.fragment or uri.endswith("#"):
        raise DroverError("%s %s: a libvirt URI has no fragment (#...)" % (what, shown))
    if port is not None and not 1 <= port <= 65535:
        raise DroverError("%s %s: port %d is not within 1-65535" % (what, shown, port))
    host = parts.hostname or ""
    if transport == "unix" and host:
        raise DroverError("%s %s: transport unix reaches this host's daemon and takes no host name" % (what, shown))
    if transport and transport != "unix" and not valid_hostname(host):
        raise DroverError("%s %s: remote transport %s needs a valid host name" % (what, shown, transport))
    if not transport and host:
        raise DroverError("%s %s: a remote host needs a transport (qemu+ssh://, qemu+tcp:// or qemu+tls://)"
                          % (what, shown))
    insecure = _insecure_params(parts.query, what, shown)
    if transport in INSECURE_TRANSPORTS:
        insecure.insert(0, "transport %s sends the libvirt connection unencrypted and, unless the daemon "
                           "requires SASL, unauthenticated" % transport)
    return {"uri": uri, "transport": transport or None, "host": host or None,
            "user": parts.username, "port": port, "path": parts.path, "query": parts.query, "insecure": insecure}


def refuse_insecure(parsed, allow_insecure, what="URI"):
    """Raise DroverError when the parsed URI is insecure and the task did not allow it."""
    if parsed["insecure"] and not allow_insecure:
        raise DroverError("%s %s is refused: %s. Use transport ssh or tls (qemu+ssh://, qemu+tls://), or accept "
                          "the risk with %s: true; nothing was changed"
                          % (what, quoted(parsed["uri"]), "; ".join(parsed["insecure"]), INSECURE_SWITCH),
                          insecure=parsed["insecure"])


def checked_uri(uri, what="URI", allow_insecure=False):
    """parse_uri, then refuse_insecure: the URI split, when it may be used."""
    parsed = parse_uri(uri, what)
    refuse_insecure(parsed, allow_insecure, what)
    return parsed


def destination_uri(dest, transport="ssh", user=None, port=None, allow_insecure=False, role="destination"):
    """The destination's libvirt URI: `dest` itself when it is a URI, else built from a host.

    Refused, naming why, when it is insecure (plain TCP, ...) and allow_insecure is false.
    """
    if not isinstance(dest, str):
        raise DroverError("%s must be a host name or a libvirt URI, got %s" % (role, quoted(dest)))
    if "://" in dest:
        parsed = parse_uri(dest, role)
        if not parsed["host"]:
            raise DroverError("%s %s is a local URI; a migration needs a remote host" % (role, quoted(dest)))
        refuse_insecure(parsed, allow_insecure, role)
        return dest
    if transport not in TRANSPORTS:
        raise DroverError("transport %s is not one of %s" % (quoted(transport), ", ".join(TRANSPORTS)))
    if not valid_hostname(dest):
        raise DroverError("%s %s is neither a libvirt URI nor a valid host name" % (role, quoted(dest)))
    netloc = dest if ":" not in dest.strip("[]") else "[%s]" % dest.strip("[]")
    if user:
        if _has_bad_chars(user) or "@" in user or "/" in user or ":" in user:
            raise DroverError("%s user %s is not a valid user name" % (role, quoted(user)))
        netloc = "%s@%s" % (user, netloc)
    if port:
        netloc = "%s:%d" % (netloc, port)
    uri = "qemu+%s://%s/system" % (transport, netloc)
    checked_uri(uri, role, allow_insecure)
    return uri


def migration_uri(value):
    """Validate the optional data-stream address (tcp://host[:port]) on a dedicated network."""
    if _has_bad_chars(value):
        raise DroverError("migration_uri %s contains characters a URI cannot hold" % quoted(value))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise DroverError("migration_uri %s is malformed: %s" % (quoted(value), exc))
    if parts.scheme not in _MIGRATION_SCHEMES or not valid_hostname(parts.hostname or "") \
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username is not None \
            or (port is not None and not 1 <= port <= 65535):
        raise DroverError("migration_uri %s must look like tcp://HOST[:PORT]" % quoted(value))
    return value
