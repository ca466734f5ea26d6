#!/bin/sh
# Rebuild the VirtLab test kernel reproducibly:
#   images/testkernel/kernel.asm -> public/images/testkernel.elf
#
#   ./build.sh            build public/images/testkernel.elf
#   ./build.sh --test     build, then run it under QEMU and require "ALL PASS"
#   STRICT=1 ./build.sh [--test]
#                         build build/testkernel-strict.elf instead (extra
#                         checks that QEMU TCG does not implement; see README)
#
# Needs nasm and GNU ld/objcopy able to emit elf_i386 (Debian:
#   apt-get install -y nasm binutils   -- gcc-multilib pulls in the same).
set -eu
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)

missing=""
command -v nasm >/dev/null 2>&1 || missing="$missing nasm"
command -v ld >/dev/null 2>&1 || missing="$missing ld"
command -v objcopy >/dev/null 2>&1 || missing="$missing objcopy"
if [ -n "$missing" ]; then
    echo "build.sh: missing tools:$missing" >&2
    echo "  install with: sudo apt-get install -y nasm binutils gcc-multilib" >&2
    exit 1
fi
if ! ld -V 2>/dev/null | grep -q elf_i386; then
    echo "build.sh: this ld cannot emit elf_i386; install binutils for x86 (or gcc-multilib)" >&2
    exit 1
fi

NASMFLAGS="-f elf32 -I ./"
NAME=testkernel
OUT="$ROOT/public/images/testkernel.elf"
if [ "${STRICT:-0}" = "1" ]; then
    NASMFLAGS="$NASMFLAGS -DSTRICT"
    NAME=testkernel-strict
    OUT=""
fi

LDFLAGS="-m elf_i386 -T linker.ld -n --build-id=none -z noexecstack -z max-page-size=16"
if ld --help 2>/dev/null | grep -q -- --no-warn-rwx-segments; then
    LDFLAGS="$LDFLAGS --no-warn-rwx-segments"
fi

mkdir -p build
# Relative paths only, and no timestamps: the output is byte-for-byte reproducible.
# shellcheck disable=SC2086
nasm $NASMFLAGS -o "build/$NAME.o" kernel.asm
# shellcheck disable=SC2086
ld $LDFLAGS -Map="build/$NAME.map" -o "build/$NAME.elf" "build/$NAME.o"
# Drop nasm's macro-local symbols (..@N.x); keep the named labels, handy for
# mapping an EIP back to a check.
objcopy --wildcard --strip-symbol='..@*' "build/$NAME.elf" "build/$NAME.elf"
BIN="build/$NAME.elf"
if [ -n "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    cp "$BIN" "$OUT"
    BIN="$OUT"
    if command -v node >/dev/null 2>&1; then
        node update-manifest.mjs
    else
        echo "build.sh: node not found; update the testkernel entry of public/images/manifest.json by hand" >&2
    fi
fi

echo "built $BIN"
echo "  size   $(wc -c < "$BIN" | tr -d ' ')"
echo "  sha256 $(sha256sum "$BIN" | cut -d' ' -f1)"

if [ "${1:-}" = "--test" ]; then
    command -v qemu-system-i386 >/dev/null 2>&1 || { echo "build.sh: qemu-system-i386 not installed" >&2; exit 1; }
    # The kernel halts forever after its summary: stop QEMU once the summary
    # line is out (or after 20 s).
    LOG="build/$NAME.qemu.log"
    qemu-system-i386 -cpu "${QEMU_CPU:-pentium2}" -m 32 -kernel "$BIN" \
        -serial stdio -display none -no-reboot -monitor none ${QEMU_EXTRA:-} > "$LOG" 2>&1 &
    qpid=$!
    i=0
    while [ $i -lt 100 ] && kill -0 "$qpid" 2>/dev/null; do
        if grep -aq -e '^ALL PASS' -e '^SOME FAILED' "$LOG"; then break; fi
        sleep 0.2
        i=$((i + 1))
    done
    sleep 0.2
    kill "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
    tr -d '\r' < "build/$NAME.qemu.log" | grep -av '^qemu-system' || true
    if tr -d '\r' < "build/$NAME.qemu.log" | grep -qx 'ALL PASS'; then
        echo "QEMU: ALL PASS"
    else
        echo "QEMU: not all checks passed" >&2
        exit 1
    fi
fi
