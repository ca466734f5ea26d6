#!/usr/bin/env bash
# Builds public/images/disk.img: a 1 MiB unpartitioned ext2 filesystem (starts at sector 0,
# so `mount /dev/sda /mnt` works in the guest) made with e2fsprogs' mke2fs -d.
# Contents (see README.md):
#   hello.txt        "Hello from the VirtLab disk"
#   numbers.txt      1..1000, one per line
#   pattern-64k.bin  65536 bytes, byte i = i mod 251
#   SHA256SUMS       sha256 of the three files above (check with: cd /mnt && sha256sum -c SHA256SUMS)
# Reproducible: fixed UUID, hash seed, timestamps (E2FSPROGS_FAKE_TIME, SOURCE_DATE_EPOCH),
# owners (0:0), and a private mke2fs.conf so the host's /etc/mke2fs.conf does not matter.
set -euo pipefail
# (Everything is inside main() so that bash parses the whole script before running it:
# editing this file during a build cannot derail the running build.)
main() {

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/public/images/disk.img"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
UUID=5669724c-6162-4469-736b-000000000001   # "VirtLabDisk" + 1
SIZE_KIB=1024

for c in mke2fs debugfs e2fsck sha256sum perl; do
  command -v "$c" >/dev/null || { echo "build.sh: missing $c (apt-get install e2fsprogs coreutils)" >&2; exit 1; }
done

T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
D="$T/root"; mkdir -p "$D"
cp "$HERE/files/hello.txt" "$D/hello.txt"
seq 1 1000 > "$D/numbers.txt"
# 64 KiB known pattern: byte i = i mod 251 (251 is prime, so the pattern does not line up
# with sector or page boundaries and a misplaced block is detected).
perl -e 'print chr($_ % 251) for 0 .. 65535' > "$D/pattern-64k.bin"
[[ $(stat -c %s "$D/pattern-64k.bin") == 65536 ]] || { echo "pattern file has the wrong size" >&2; exit 1; }
(cd "$D" && sha256sum hello.txt numbers.txt pattern-64k.bin > SHA256SUMS)
chmod 0644 "$D"/*; chmod 0755 "$D"
touch -d "@$SOURCE_DATE_EPOCH" "$D"/* "$D"

cat > "$T/mke2fs.conf" <<'EOF'
[defaults]
	base_features = sparse_super,large_file,filetype
	blocksize = 1024
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext2 = {
		features = ^has_journal
	}
	floppy = {
		inode_ratio = 16384
	}
EOF
truncate -s "${SIZE_KIB}k" "$T/disk.img"
MKE2FS_CONFIG="$T/mke2fs.conf" mke2fs -q -F -t ext2 -b 1024 -I 256 -N 32 -m 0 -L virtlab \
  -U "$UUID" -E "hash_seed=$UUID,root_owner=0:0" -d "$D" "$T/disk.img" "${SIZE_KIB}k"
# mke2fs -d copies the builder's uid/gid: force 0:0 so the image does not depend on who built it.
# (debugfs stamps ctime with the real clock when it changes a field: set ctime back last.)
for f in hello.txt numbers.txt pattern-64k.bin SHA256SUMS; do
  printf 'set_inode_field /%s uid 0\nset_inode_field /%s gid 0\nset_inode_field /%s ctime @%s\n' \
    "$f" "$f" "$f" "$SOURCE_DATE_EPOCH"
done > "$T/fix-owner.debugfs"
debugfs -w -f "$T/fix-owner.debugfs" "$T/disk.img" >/dev/null 2>&1
e2fsck -fn "$T/disk.img" >/dev/null 2>&1 || { echo "e2fsck found errors" >&2; exit 1; }
# Self-check: read the files back out of the image.
debugfs -R "cat /hello.txt" "$T/disk.img" 2>/dev/null | cmp - "$D/hello.txt"
debugfs -R "cat /pattern-64k.bin" "$T/disk.img" 2>/dev/null | cmp - "$D/pattern-64k.bin"

mkdir -p "$(dirname "$OUT")"
install -m 0644 "$T/disk.img" "$OUT"
ls -l "$OUT"; sha256sum "$OUT"
cat "$D/SHA256SUMS"
if [[ -f "$ROOT/public/images/linux/bzImage" && -f "$ROOT/public/images/linux/initramfs.cpio" ]]; then
  node "$ROOT/images/linux/update-manifest.mjs"
else
  echo "kernel/initramfs not built yet: run images/linux/build.sh (it also updates manifest.json)" >&2
fi
}
main "$@"
