"""The lab's certificate authority and the TLS certificates of its hosts and of this machine.

Hosts find theirs at libvirt's and QEMU's standard paths in their private /etc/pki; this machine
connects with qemu+tls://HOST/system?pkipath=<STATE>/pki/client.
"""
import os
import shutil

from drover_lab.config import NET, STATE, host_dir, host_ip, host_name, run, write


def openssl(*args):
    run(["openssl"] + list(args), quiet=True)


def ensure_ca():
    ca = os.path.join(STATE, "pki")
    os.makedirs(ca, exist_ok=True)
    if not os.path.exists(os.path.join(ca, "ca.pem")):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", os.path.join(ca, "ca.key"), "-out", os.path.join(ca, "ca.pem"),
                "-days", "30", "-subj", "/O=drover lab/CN=drover lab CA")
    return ca


def issue_cert(ca, name, sans, out_dir):
    """A key and a certificate valid as TLS server and client, signed by the lab CA."""
    key, csr, cert = (os.path.join(out_dir, name + ext) for ext in (".key", ".csr", ".pem"))
    if os.path.exists(cert):
        return key, cert
    ext = os.path.join(out_dir, name + ".ext")
    write(ext, "subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % ",".join(sans))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/O=drover lab/CN=%s" % name)
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(ca, "ca.pem"), "-CAkey", os.path.join(ca, "ca.key"),
            "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", cert)
    return key, cert


def ensure_host_pki(n):
    """libvirt's and QEMU's standard certificate paths inside the host (its private /etc/pki)."""
    ca = ensure_ca()
    pki = os.path.join(host_dir(n), "pki")
    for sub in ("CA", "libvirt/private", "qemu", "issued"):
        os.makedirs(os.path.join(pki, sub), exist_ok=True)
    key, cert = issue_cert(ca, host_name(n), ["DNS:%s" % host_name(n), "IP:%s" % host_ip(n)],
                           os.path.join(pki, "issued"))
    places = {"CA/cacert.pem": os.path.join(ca, "ca.pem"), "qemu/ca-cert.pem": os.path.join(ca, "ca.pem")}
    for role in ("server", "client"):
        places["libvirt/%scert.pem" % role] = cert
        places["libvirt/private/%skey.pem" % role] = key
        places["qemu/%s-cert.pem" % role] = cert
        places["qemu/%s-key.pem" % role] = key
    for rel, src in places.items():
        shutil.copy(src, os.path.join(pki, rel))


def ensure_controller_pki():
    """Client certificates for this machine: qemu+tls://HOST/system?pkipath=<STATE>/pki/client."""
    ca = ensure_ca()
    client = os.path.join(ca, "client")
    os.makedirs(client, exist_ok=True)
    key, cert = issue_cert(ca, "labctl", ["DNS:labctl", "IP:%s.254" % NET], client)
    shutil.copy(os.path.join(ca, "ca.pem"), os.path.join(client, "cacert.pem"))
    shutil.copy(cert, os.path.join(client, "clientcert.pem"))
    shutil.copy(key, os.path.join(client, "clientkey.pem"))
