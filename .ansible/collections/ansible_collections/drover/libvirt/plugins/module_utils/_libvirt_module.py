# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base class of every drover.libvirt module.

It owns the optional import of libvirt-python, the libvirt connections a
module opens (refusing insecure ones unless allow_insecure_transport is set), the ranges of the
module's numbers, the masking of any password a URI option carries, and the mapping of libvirt
errors to messages a person can act on.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import threading
import traceback
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import CONNECTION_ARGSPEC
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import check_domain_name
from ansible_collections.drover.libvirt.plugins.module_utils._uri import INSECURE_SWITCH, checked_uri, uri_passwords
from ansible_collections.drover.libvirt.plugins.module_utils._values import check_ranges

LIBVIRT_IMPORT_ERROR = None
try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()
try:
    import libvirt_qemu  # ships with libvirt-python; only post-copy recovery on libvirt 11.3.0 needs it
except ImportError:
    libvirt_qemu = None

KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 3

# libvirt error code name -> what it means for the person running the task.
_ERROR_HINTS = {
    "VIR_ERR_NO_DOMAIN": "no such domain",
    "VIR_ERR_NO_CONNECT": "no connection driver for this URI",
    "VIR_ERR_SYSTEM_ERROR": "cannot reach the libvirt daemon",
    "VIR_ERR_AUTH_FAILED": "authentication failed",
    "VIR_ERR_AUTH_UNAVAILABLE": "authentication unavailable",
    "VIR_ERR_OPERATION_INVALID": "operation not valid in the domain's current state",
    "VIR_ERR_OPERATION_ABORTED": "operation aborted",
    "VIR_ERR_OPERATION_TIMEOUT": "operation timed out",
    "VIR_ERR_OPERATION_FAILED": "operation failed",
    "VIR_ERR_OPERATION_UNSUPPORTED": "operation not supported by this hypervisor",
    "VIR_ERR_NO_SUPPORT": "not supported by this libvirt driver",
    "VIR_ERR_ARGUMENT_UNSUPPORTED": "argument not supported by this libvirt version",
    "VIR_ERR_CPU_INCOMPATIBLE": "the destination cannot provide the domain's CPU",
    "VIR_ERR_MIGRATE_UNSAFE": "libvirt considers this migration unsafe",
    "VIR_ERR_INTERNAL_ERROR": "internal libvirt error",
}


def error_code_name(exc):
    """The symbolic name (VIR_ERR_...) of a libvirtError's code, or None."""
    code = exc.get_error_code() if hasattr(exc, "get_error_code") else None
    if code is None or libvirt is None:
        return None
    for name in dir(libvirt):
        if name.startswith("VIR_ERR_") and getattr(libvirt, name) == code and name in _ERROR_HINTS:
            return name
    for name in dir(libvirt):
        if name.startswith("VIR_ERR_") and getattr(libvirt, name) == code:
            return name
    return None


def describe(exc, action):
    """One line: what we were doing, what libvirt said, and the error class."""
    name = error_code_name(exc)
    text = exc.get_error_message() if hasattr(exc, "get_error_message") else None
    text = text or str(exc)
    hint = _ERROR_HINTS.get(name)
    return "%s: %s%s" % (action, text, " (%s, %s)" % (hint, name) if hint else
                         (" (%s)" % name if name else ""))


def start_event_loop():
    """Run libvirt's default event loop in a daemon thread (needed for domain events).

    It must be registered before the first connection is opened.
    """
    if getattr(start_event_loop, "started", False):
        return
    libvirt.virEventRegisterDefaultImpl()

    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()
    start_event_loop.started = True


def strings_in(value):
    """Every string inside a module parameter (nested lists and dicts included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings_in(item)


def host_uuid(conn):
    """The host UUID libvirt uses to refuse a migration to the same host."""
    caps = ET.fromstring(conn.getCapabilities())
    return caps.findtext("host/uuid")


class LibvirtModule(AnsibleModule):
    """AnsibleModule with libvirt connections and error mapping.

    ranges: the module's numeric options and their (lowest, highest), see _values.check_ranges.
    """

    def __init__(self, argument_spec, ranges=None, **kwargs):
        spec = dict(CONNECTION_ARGSPEC)
        spec.update(argument_spec)
        super().__init__(argument_spec=spec, **kwargs)
        try:
            check_ranges(self.params, ranges or {})
        except DroverError as exc:
            self.fail_json(msg=exc.msg)
        if libvirt is None:
            self.fail_json(msg=missing_required_lib("libvirt-python"), exception=LIBVIRT_IMPORT_ERROR)
        # Without this, libvirt prints every error to stderr as well as raising it.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        start_event_loop()
        self.libvirt = libvirt
        self.libvirt_qemu = libvirt_qemu
        self._connections = []

    def _load_params(self):
        # A password in a URI is refused (_uri.parse_uri); masked too, so neither the refusal nor
        # the task's invocation prints it.
        super()._load_params()
        for text in strings_in(self.params):
            self.no_log_values.update(uri_passwords(text))

    def connect(self, uri, role):
        """Open a read-write connection; `role` names it in errors (source, destination).

        An insecure URI is refused unless the module's allow_insecure_transport is true.
        """
        parsed = checked_uri(uri, "%s URI" % role, self.params.get(INSECURE_SWITCH))
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise DroverError(describe(exc, "cannot connect to the %s %s" % (role, uri)),
                              error_class=error_code_name(exc))
        if parsed["host"]:
            # Without keepalive a call on a connection whose link died hangs until TCP gives up
            # (many minutes); with it, the call fails after about interval * (count + 1) seconds.
            try:
                conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
            except libvirt.libvirtError:
                pass  # a daemon without keepalive support: calls just wait longer
        self._connections.append(conn)
        return conn

    def lookup(self, conn, name):
        """The domain `name` on conn, or a DroverError that names it and the host."""
        check_domain_name(name)
        try:
            return conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise DroverError("domain %r was not found on %s" % (name, conn.getURI()))
            raise

    def close_connections(self):
        while self._connections:
            try:
                self._connections.pop().close()
            except libvirt.libvirtError:
                pass

    def run(self, work):
        """Call work(); turn DroverError and stray libvirt errors into a clean failure."""
        try:
            result = work()
        except DroverError as exc:
            self.close_connections()
            self.fail_json(msg=exc.msg, **exc.details)
        except libvirt.libvirtError as exc:
            self.close_connections()
            self.fail_json(msg=describe(exc, "libvirt call failed"), error_class=error_code_name(exc),
                           exception=traceback.format_exc())
        self.close_connections()
        self.exit_json(**result)
