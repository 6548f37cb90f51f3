#!/bin/sh
# PID 1 of the lab's guests: a busybox userland that keeps dirtying RAM at a
# chosen rate and prints a heartbeat on the serial console, so that a test can
# tell "kept running across a migration" (same boot id, counter goes on) from
# "rebooted" (new boot id) or "hung" (counter stops).
#
# Kernel command line:
#   drover.dirty_mb=N   MiB of RAM rewritten every second (0 = idle guest)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  insmod /lib/modules/$m.ko 2>/dev/null
done

DIRTY_MB=0
read -r CMDLINE < /proc/cmdline
for arg in $CMDLINE; do
  case "$arg" in drover.dirty_mb=*) DIRTY_MB=${arg#drover.dirty_mb=} ;; esac
done

# The working set lives in a tmpfs: rewriting it dirties guest pages that a
# pre-copy round has already sent.
mount -t tmpfs -o size=$((DIRTY_MB * 2 + 8))m tmpfs /mnt
if [ "$DIRTY_MB" -gt 0 ]; then
  dd if=/dev/urandom of=/mnt/pattern bs=1M count="$DIRTY_MB" 2>/dev/null
fi

BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
DISK=none
[ -b /dev/vda ] && DISK=vda
echo "drover-ready boot_id=$BOOT_ID dirty_mb=$DIRTY_MB disk=$DISK" > /dev/ttyS0

seq=0
while true; do
  seq=$((seq + 1))
  if [ "$DIRTY_MB" -gt 0 ]; then
    dd if=/mnt/pattern of=/mnt/working bs=1M conv=notrunc 2>/dev/null
  fi
  # Sector 1 of the disk carries the latest heartbeat, written through to
  # storage, so disk writes are in flight during a migration too.
  if [ "$DISK" = vda ]; then
    printf 'drover-heartbeat %08d %s\n' "$seq" "$BOOT_ID" |
      dd of=/dev/vda bs=512 seek=1 count=1 conv=sync,notrunc,fsync 2>/dev/null
  fi
  echo "drover-heartbeat seq=$seq boot_id=$BOOT_ID uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
  sleep 1
done
