"""Configuration files the lab writes for each host (str.format templates)."""

LIBVIRTD_CONF = """# lab host {name}
listen_tls = 1
auth_tls = "none"
listen_tcp = 1
listen_addr = "{ip}"
auth_tcp = "none"
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
host_uuid = "{uuid}"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

# No cgroups, namespaces or security driver in this sandbox; migration_host is
# required because every namespace answers to the same host name for QEMU.
QEMU_CONF = """# lab host {name}
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
migration_host = "{ip}"
migration_address = "{ip}"
migration_port_min = {port_min}
migration_port_max = {port_max}
# Notice a dead peer within ~6 s (default ~30 s), so post-copy failure tests stay short.
keepalive_interval = 2
keepalive_count = 2
shared_filesystems = [ "{shared}" ]
# Native TLS of the migration stream (VIR_MIGRATE_TLS); certificates from the lab's CA.
migrate_tls_x509_cert_dir = "/etc/pki/qemu"
migrate_tls_x509_verify = 1
"""

# Isolated networks (`lab network`) need a firewall backend; no nft binary is installed.
NETWORK_CONF = """# lab host {name}
firewall_backend = "iptables"
"""

SSHD_CONF = """ListenAddress {ip}
HostKey {dir}/ssh/host_ed25519
PidFile {dir}/ssh/sshd.pid
AuthorizedKeysFile {state}/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
"""

SSH_CLIENT_CONF = """# Used inside the lab hosts (host-to-host qemu+ssh) and by `lab ssh`.
Host hv* {net}.*
    User root
    IdentityFile {state}/ssh/id_ed25519
    UserKnownHostsFile /dev/null
    StrictHostKeyChecking no
    ConnectTimeout 5
    # A peer whose link died leaves an SSH session silent; libvirt's keepalive does not cover a
    # connection still being opened (a migration's peer-to-peer connection), so SSH gives up itself.
    ServerAliveInterval 2
    ServerAliveCountMax 3
    LogLevel ERROR
"""
