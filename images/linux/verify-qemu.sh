#!/usr/bin/env bash
# Boots the committed Linux guest images under QEMU and drives the serial shell.
# Not part of CI (needs qemu-system-i386: apt-get install qemu-system-x86).
#
#   images/linux/verify-qemu.sh            all scenarios (KVM one only if /dev/kvm is usable)
#   VERBOSE=1 images/linux/verify-qemu.sh  also print every guest log
#
# Scenarios:
#   ide     the reference command line (-cpu pentium2, IDE disk); boot time to VIRTLAB-READY,
#           uname, cpuinfo, ls /, mount /dev/sda, sha256sum -c, dd, 1000 forks, date, sleep 1,
#           Ctrl-C on the serial shell, a shell on tty1, no kvm-clock under TCG, no APIC in use
#   p6      a CPU closer to VirtLab's (pentium2 minus MMX, APIC, PAE, MTRR, PAT, PSE36, MCA, MCE)
#   virtio  virtio-blk (/dev/vda), virtio-net (eth0) and virtio-console (/dev/hvc0)
#   kvm     -enable-kvm: the kernel must log kvm-clock
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMG="$ROOT/public/images"
KERNEL="$IMG/linux/bzImage" INITRD="$IMG/linux/initramfs.cpio" DISK="$IMG/disk.img"
QEMU=${QEMU:-qemu-system-i386}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-120}
command -v "$QEMU" >/dev/null || { echo "missing $QEMU (apt-get install qemu-system-x86)" >&2; exit 2; }

W=$(mktemp -d); QPID=
cleanup() { [[ -n $QPID ]] && kill "$QPID" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
FAILS=0
pass() { printf '  ok   %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }

now_ms() { date +%s%3N; }

# start NAME QEMU-ARGS... : boots the guest with stdin from a fifo, output to $W/NAME.log
start() {
  NAME=$1; shift
  LOG="$W/$NAME.log"; : > "$LOG"
  rm -f "$W/in"; mkfifo "$W/in"
  T0=$(now_ms)
  timeout 600 "$QEMU" -m 128 -kernel "$KERNEL" -initrd "$INITRD" -nographic -no-reboot \
    "$@" < "$W/in" > "$LOG" 2>&1 &
  QPID=$!
  exec 3> "$W/in"
  SEQ=0
}

# wait_for REGEX SECONDS : waits until the guest log matches (extended regex)
wait_for() {
  local re=$1 t=$2 end=$(( $(date +%s) + $2 ))
  while ! grep -qaE -- "$re" "$LOG"; do
    if (( $(date +%s) >= end )) || ! kill -0 "$QPID" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
}

# run 'COMMAND' [SECONDS] : types COMMAND on the serial shell and waits for its end marker;
# leaves its output in $OUT and its exit status in $RC. The command's output is framed by
# start/end marker lines; the markers are split in the typed text ("@@S""n@@") so that the
# terminal's echo of the command line (which the line editor may wrap) never matches them.
run() {
  local cmd=$1 t=${2:-60}
  SEQ=$((SEQ + 1))
  printf 'echo "@@S""%s@@"; %s; echo "@@E""%s@@ rc=$?"\n' "$SEQ" "$cmd" "$SEQ" >&3
  if ! wait_for "^@@E${SEQ}@@ rc=[0-9]+" "$t"; then OUT=""; RC=timeout; return 0; fi
  OUT=$(tr -d '\r' < "$LOG" | awk -v s="@@S${SEQ}@@" -v e="@@E${SEQ}@@" '
      $0 == s { on = 1; next }
      on && index($0, e) == 1 { exit }
      on { print }')
  RC=$(tr -d '\r' < "$LOG" | grep -aoE "^@@E${SEQ}@@ rc=[0-9]+" | tail -1 | sed 's/.*rc=//')
}

check() { # check DESCRIPTION COMMAND EXPECTED-REGEX [SECONDS]
  run "$2" "${4:-60}"
  if [[ $RC == 0 ]] && grep -qaE -- "$3" <<<"$OUT"; then pass "$1"; else
    fail "$1 (rc=$RC)"; printf '%s\n' "$OUT" | sed 's/^/         | /' | tail -15
  fi
}

stop() {
  # -no-reboot: QEMU exits. In a subshell: if QEMU no longer reads the fifo, SIGPIPE kills
  # only the subshell.
  ( printf 'reboot -f\n' >&3 ) 2>/dev/null || true
  exec 3>&-
  for _ in $(seq 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
  kill "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; QPID=
  [[ ${VERBOSE:-} ]] && { echo "----- $NAME log"; tr -d '\r' < "$LOG"; echo "-----"; }
  cp "$LOG" "${KEEP_LOGS:-$W}/" 2>/dev/null || true
}

boot() { # boot NAME QEMU-ARGS... : start and wait for VIRTLAB-READY plus the shell prompt
  start "$@"
  if wait_for '^VIRTLAB-READY' "$BOOT_TIMEOUT"; then
    BOOT_MS=$(( $(now_ms) - T0 ))
    pass "$NAME: VIRTLAB-READY after $BOOT_MS ms (wall time from QEMU start)"
  else
    fail "$NAME: no VIRTLAB-READY within $BOOT_TIMEOUT s"; tail -30 "$LOG"; stop; return 1
  fi
  wait_for 'virtlab:/# ' 30 || fail "$NAME: no shell prompt"
}

echo "== ide: -cpu pentium2, IDE disk (TCG)"
if boot ide -cpu pentium2 -append "console=ttyS0" \
     -drive file="$DISK",format=raw,if=ide,snapshot=on; then
  check "uname -a" 'uname -a' '^Linux virtlab 6\.1\.[0-9]+-virtlab #1 .* i686'
  echo "         $(grep -a '^Linux virtlab' <<<"$OUT")"
  check "/proc/cpuinfo" 'cat /proc/cpuinfo' 'cpu family[[:space:]]+: 6'
  check "ls /" 'ls /' 'bin.*dev.*etc.*init.*proc.*sys.*tmp'
  check "mounts: proc sysfs devtmpfs tmpfs" 'cat /proc/mounts' 'devtmpfs /dev devtmpfs.*'
  check "mount /dev/sda + hello.txt" 'mount /dev/sda /mnt && cat /mnt/hello.txt' '^Hello from the VirtLab disk$'
  check "sha256sum -c SHA256SUMS on the disk" '(cd /mnt && sha256sum -c SHA256SUMS)' 'pattern-64k.bin: OK'
  check "numbers.txt" 'wc -l < /mnt/numbers.txt; tail -1 /mnt/numbers.txt' '^1000$'
  check "dd if=/dev/sda of=/dev/null bs=64k" 'dd if=/dev/sda of=/dev/null bs=64k' '16\+0 records in'
  t=$(now_ms)
  check "1000 forks" 'i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; echo done' '^done$' 300
  echo "         (1000 fork+exec of /bin/true: $(( $(now_ms) - t )) ms wall)"
  check "date" 'date' '20[0-9][0-9]'
  check "sleep 1" 'sleep 1 && echo slept' '^slept$'
  check "write to tmpfs" 'echo hi > /tmp/x && cat /tmp/x' '^hi$'
  check "hostname" 'hostname' '^virtlab$'
  # Ctrl-C: start a long sleep, interrupt it, the shell must come back long before 30 s.
  t=$(now_ms)
  printf 'sleep 30\n' >&3; sleep 1; printf '\003' >&3
  check "Ctrl-C interrupts a foreground job" 'echo back' '^back$' 20
  (( $(now_ms) - t < 15000 )) && pass "Ctrl-C took effect ($(( $(now_ms) - t )) ms)" || fail "Ctrl-C did not interrupt sleep 30"
  check "job control (background job + jobs)" 'sleep 5 & jobs' 'Running'
  check "shells on ttyS0 and tty1" 'for p in $(pidof sh); do readlink /proc/$p/fd/0; done | sort -u' '^/dev/ttyS0$'
  grep -qx '/dev/tty1' <<<"$OUT" && pass "shell on tty1 (VGA console) running" || fail "no shell on tty1"
  check "no kvm-clock under TCG" 'dmesg | grep -ci kvm-clock; true' '^0$'
  check "no APIC in use (PIC + PIT only)" 'cat /proc/interrupts' 'XT-PIC.*timer'
  check "kernel log never mentions an APIC" 'dmesg | grep -ci apic; true' '^0$'
  check "free memory" 'free' 'Mem:'
  printf '%s\n' "$OUT" | sed 's/^/         | /'
  check "clocksource" 'cat /sys/devices/system/clocksource/clocksource0/current_clocksource /sys/devices/system/clocksource/clocksource0/available_clocksource' '.'
  printf '%s\n' "$OUT" | sed 's/^/         | /'
  IDE_BOOT_MS=$BOOT_MS
  stop
fi

echo "== p6: pentium2 without MMX/APIC/PAE/MTRR/PAT/PSE36/MCA/MCE (TCG)"
if boot p6 -cpu pentium2,mmx=off,apic=off,pae=off,mtrr=off,pat=off,pse36=off,mca=off,mce=off \
     -append "console=ttyS0" -drive file="$DISK",format=raw,if=ide,snapshot=on; then
  check "cpuinfo flags" 'grep flags /proc/cpuinfo' 'flags'
  printf '%s\n' "$OUT" | sed 's/^/         | /'
  check "busybox works (awk float math)" "awk 'BEGIN{printf \"%.3f\\n\", 22/7}'" '^3\.143$'
  check "mount /dev/sda" 'mount /dev/sda /mnt && cat /mnt/hello.txt' '^Hello from the VirtLab disk$'
  stop
fi

echo "== virtio: virtio-blk, virtio-net, virtio-console (TCG)"
if boot virtio -cpu pentium2 -append "console=ttyS0" \
     -drive file="$DISK",format=raw,if=virtio,snapshot=on \
     -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
     -device virtio-serial-pci -chardev null,id=vc0 -device virtconsole,chardev=vc0; then
  check "/dev/vda exists" 'ls -l /dev/vda' 'vda'
  check "mount /dev/vda + hello.txt" 'mount /dev/vda /mnt && cat /mnt/hello.txt' '^Hello from the VirtLab disk$'
  check "sha256sum -c over virtio-blk" '(cd /mnt && sha256sum -c SHA256SUMS)' 'pattern-64k.bin: OK'
  check "virtio-net interface" 'ls /sys/class/net; cat /sys/class/net/eth0/device/uevent' 'virtio_net'
  check "virtio-console /dev/hvc0" 'ls /dev/hvc0' 'hvc0'
  check "virtio devices on the bus" 'ls /sys/bus/virtio/devices' 'virtio0'
  stop
fi

if [[ -r /dev/kvm && -w /dev/kvm ]]; then
  echo "== kvm: -enable-kvm -cpu pentium2"
  start kvm -enable-kvm -cpu pentium2 -append "console=ttyS0" \
    -drive file="$DISK",format=raw,if=ide,snapshot=on
  if ! wait_for '^Linux version' 30; then
    # Seen in nested sandboxes: /dev/kvm exists but the firmware never hands over to Linux.
    echo "  skip kvm: KVM is present but the guest never reached the kernel (broken nested KVM?)"
    tr -d '\r' < "$LOG" | grep -av '^[[:space:]]*$' | tail -3 | sed 's/^/         | /'
    stop
  elif wait_for '^VIRTLAB-READY' "$BOOT_TIMEOUT" && wait_for 'virtlab:/# ' 30; then
    pass "kvm: VIRTLAB-READY"
    check "kernel logs kvm-clock" 'dmesg | grep -i kvm' 'kvm-clock'
    printf '%s\n' "$OUT" | sed 's/^/         | /'
    check "clocksource is kvm-clock" 'cat /sys/devices/system/clocksource/clocksource0/current_clocksource' '^kvm-clock$'
    stop
  else
    fail "kvm: no VIRTLAB-READY"; tail -20 "$LOG"; stop
  fi
else
  echo "== kvm: skipped (/dev/kvm not usable)"
fi

echo
[[ -n ${IDE_BOOT_MS:-} ]] && echo "boot to VIRTLAB-READY under TCG (-cpu pentium2 -m 128): ${IDE_BOOT_MS} ms"
if (( FAILS )); then echo "$FAILS check(s) FAILED"; exit 1; fi
echo "all checks passed"
