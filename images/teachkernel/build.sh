#!/bin/sh
# Rebuild the VirtLab teaching kernel reproducibly:
#   images/teachkernel/*.c *.asm -> public/images/teachkernel.elf     (native)
#                                -> public/images/teachkernel-pv.elf  (PV: CPL 1, hypercalls)
#
#   ./build.sh            build both, update their manifest.json entries
#   ./build.sh --test     build, then run the native kernel under QEMU (all
#                         workloads, small ops) and the PV kernel (must say
#                         "no hypervisor"), requiring the expected output
#
# Needs nasm, gcc with -m32 support and GNU ld (Debian:
#   apt-get install -y nasm gcc-multilib   -- qemu-system-x86 for --test).
set -eu
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)

missing=""
for t in nasm gcc ld objcopy; do command -v $t >/dev/null 2>&1 || missing="$missing $t"; done
if [ -n "$missing" ]; then
    echo "build.sh: missing tools:$missing" >&2
    echo "  install with: sudo apt-get install -y nasm gcc-multilib binutils" >&2
    exit 1
fi

CFLAGS="-m32 -march=i686 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -nostdlib -O2 \
 -mno-mmx -mno-sse -mno-sse2 -mgeneral-regs-only -fno-asynchronous-unwind-tables -fno-ident \
 -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror"
LDFLAGS="-m elf_i386 -T linker.ld -n --build-id=none -z noexecstack -z max-page-size=16"
if ld --help 2>/dev/null | grep -q -- --no-warn-rwx-segments; then
    LDFLAGS="$LDFLAGS --no-warn-rwx-segments"
fi

build() { # $1 = name, $2 = extra define (or empty), $3 = platform source
    name=$1
    d="build/$name"
    mkdir -p "$d"
    # Relative paths, no timestamps, no debug info: byte-for-byte reproducible.
    # shellcheck disable=SC2086
    nasm -f elf32 $2 -o "$d/entry.o" entry.asm
    # shellcheck disable=SC2086
    gcc $CFLAGS $2 -c -o "$d/kernel.o" kernel.c
    # shellcheck disable=SC2086
    gcc $CFLAGS $2 -c -o "$d/platform.o" "$3"
    # shellcheck disable=SC2086
    ld $LDFLAGS -Map="$d/$name.map" -o "$d/$name.elf" "$d/entry.o" "$d/kernel.o" "$d/platform.o"
    objcopy --wildcard --strip-symbol='..@*' "$d/$name.elf" "$d/$name.elf"
    mkdir -p "$ROOT/public/images"
    cp "$d/$name.elf" "$ROOT/public/images/$name.elf"
    f="$ROOT/public/images/$name.elf"
    echo "built public/images/$name.elf"
    echo "  size   $(wc -c < "$f" | tr -d ' ')"
    echo "  sha256 $(sha256sum "$f" | cut -d' ' -f1)"
}

build teachkernel "" platform_native.c
build teachkernel-pv "-DPV" platform_pv.c

if command -v node >/dev/null 2>&1; then
    node update-manifest.mjs
else
    echo "build.sh: node not found; update the teachkernel entries of public/images/manifest.json by hand" >&2
fi

if [ "${1:-}" = "--test" ]; then
    command -v qemu-system-i386 >/dev/null 2>&1 || { echo "build.sh: qemu-system-i386 not installed" >&2; exit 1; }
    # run_qemu KERNEL CMDLINE LOG STOP-REGEX: the kernel halts at the end, so
    # stop QEMU once the last line is out (or after 60 s).
    run_qemu() {
        : > "$3"
        qemu-system-i386 -cpu "${QEMU_CPU:-pentium2}" -m 32 -kernel "$1" -append "$2" \
            -serial stdio -display none -no-reboot -monitor none > "$3" 2>&1 &
        qpid=$!
        i=0
        while [ $i -lt 300 ] && kill -0 "$qpid" 2>/dev/null; do
            if grep -aq -E "$4" "$3"; then break; fi
            sleep 0.2
            i=$((i + 1))
        done
        sleep 0.2
        kill "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
        tr -d '\r' < "$3" | grep -av '^qemu-system' || true
    }
    LOG=build/teachkernel.qemu.log
    run_qemu "$ROOT/public/images/teachkernel.elf" "${TEST_CMDLINE:-workload=all ops=200}" "$LOG" \
        'TEACHKERNEL (DONE|PANIC|ERROR)'
    if ! tr -d '\r' < "$LOG" | grep -qx 'TEACHKERNEL DONE' || tr -d '\r' < "$LOG" | grep -q -e FAIL -e 'TRAP '; then
        echo "QEMU: native kernel failed" >&2
        exit 1
    fi
    LOG=build/teachkernel-pv.qemu.log
    run_qemu "$ROOT/public/images/teachkernel-pv.elf" "" "$LOG" 'no hypervisor'
    if ! tr -d '\r' < "$LOG" | grep -qx 'TEACHKERNEL PV: no hypervisor'; then
        echo "QEMU: PV kernel did not detect the missing hypervisor" >&2
        exit 1
    fi
    echo "QEMU: native TEACHKERNEL DONE, PV: no hypervisor"
fi
