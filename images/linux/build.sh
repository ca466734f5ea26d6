#!/usr/bin/env bash
# Builds the VirtLab Linux guest from Debian packages only:
#   public/images/linux/bzImage         i386 kernel (Debian linux-source-6.1, tinyconfig + ./config)
#   public/images/linux/initramfs.cpio  uncompressed newc cpio: Debian busybox-static (i386) + ./init + ./etc
# and refreshes public/images/manifest.json (entries "linux" and "disk"; other entries are kept).
#
# Usage: images/linux/build.sh            (as root it installs missing build packages with apt-get)
# Environment:
#   WORK=/tmp/virtlab-linux-build  scratch directory (kernel tree, busybox .deb, staging)
#   JOBS=2                         make -j
#   SOURCE_DATE_EPOCH=1735689600   timestamp put into the kernel version string and the cpio
#   BUSYBOX_VERSION / BUSYBOX_DEB_SHA256   pin of the busybox-static:i386 package (see README.md)
#
# The system's apt state is never changed for the i386 package: it is fetched with a private
# APT_CONFIG (own lists/cache/status under $WORK/apt, APT::Architecture "i386") and unpacked
# with dpkg-deb -x.
set -euo pipefail
# (Everything is inside main() so that bash parses the whole script before running it:
# editing this file during a build cannot derail the running build.)
main() {

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/public/images/linux"
WORK=${WORK:-/tmp/virtlab-linux-build}
JOBS=${JOBS:-2}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}
BUSYBOX_VERSION=${BUSYBOX_VERSION:-1:1.35.0-4+deb12u1+b1}
BUSYBOX_DEB_SHA256=${BUSYBOX_DEB_SHA256:-725ef9e6fbac4ab79b353165b05005e8c140d6e42177ebbc202ff1e13ded8b7c}

log() { printf '\n=== %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

# --- 0. build dependencies ---------------------------------------------------------------
PKGS=(linux-source-6.1 gcc make libc6-dev flex bison bc libelf-dev libssl-dev lz4 xz-utils cpio dpkg)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]} (apt-get install them, or run as root)"
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi
KSRC_VERSION=$(dpkg-query -W -f='${Version}' linux-source-6.1)
mkdir -p "$WORK" "$OUT"

# --- 1. kernel source ----------------------------------------------------------------------
KDIR="$WORK/linux-source-6.1"
if [[ ! -f "$WORK/.src-$KSRC_VERSION" ]]; then
  log "extracting linux-source-6.1 $KSRC_VERSION"
  rm -rf "$KDIR" "$WORK"/.src-*
  tar -C "$WORK" -xf /usr/src/linux-source-6.1.tar.xz
  touch "$WORK/.src-$KSRC_VERSION"
fi

# --- 2. configuration: tinyconfig + fragment, then verify ------------------------------------
export ARCH=i386
export KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %e %H:%M:%S UTC %Y')"
export KBUILD_BUILD_USER=virtlab KBUILD_BUILD_HOST=virtlab KBUILD_BUILD_VERSION=1
log "configuring (tinyconfig + images/linux/config)"
make -C "$KDIR" -s tinyconfig
(cd "$KDIR" && scripts/kconfig/merge_config.sh -m .config "$HERE/config" >/dev/null)
make -C "$KDIR" -s olddefconfig
bad=0
while IFS= read -r line; do
  case "$line" in
    "# CONFIG_"*" is not set")
      opt=${line#\# }; opt=${opt%% *}
      if grep -q "^$opt=" "$KDIR/.config"; then echo "config: wanted $opt unset, got $(grep "^$opt=" "$KDIR/.config")" >&2; bad=1; fi ;;
    CONFIG_*)
      if ! grep -qxF -- "$line" "$KDIR/.config"; then
        echo "config: wanted $line, got: $(grep -E "^(# )?${line%%=*}[= ]" "$KDIR/.config" || echo 'absent')" >&2; bad=1
      fi ;;
  esac
done < "$HERE/config"
((bad == 0)) || die "the final .config does not match images/linux/config (see above)"
# The resolved configuration is kept next to the fragment for reference (git diff shows drift).
cp "$KDIR/.config" "$HERE/config.full"

# --- 3. kernel -----------------------------------------------------------------------------
log "building bzImage (make -j$JOBS)"
t0=$(date +%s)
make -C "$KDIR" -j"$JOBS" bzImage
echo "kernel build: $(( $(date +%s) - t0 )) s" >&2
GEN_INIT_CPIO="$KDIR/usr/gen_init_cpio"
[[ -x "$GEN_INIT_CPIO" ]] || make -C "$KDIR" usr/
[[ -x "$GEN_INIT_CPIO" ]] || cc -O2 -o "$GEN_INIT_CPIO" "$KDIR/usr/gen_init_cpio.c"

# --- 4. busybox-static:i386 through a private apt configuration ------------------------------
A="$WORK/apt"
log "fetching busybox-static:i386 $BUSYBOX_VERSION (private apt state in $A)"
mkdir -p "$A/etc/sources.list.d" "$A/etc/apt.conf.d" "$A/etc/preferences.d" \
         "$A/state/lists/partial" "$A/cache/archives/partial" "$A/debs"
: > "$A/etc/sources.list"; : > "$A/state/status"
rm -f "$A/etc/sources.list.d/"*
# Same Debian mirrors as the host (only *.list / *.sources files; disabled files are skipped).
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  case "$f" in /etc/apt/sources.list) cp "$f" "$A/etc/sources.list" ;; *) cp "$f" "$A/etc/sources.list.d/" ;; esac
done
cat > "$A/apt.conf" <<EOF
APT::Architecture "i386";
APT::Architectures { "i386"; };
Dir::Etc "$A/etc";
Dir::Etc::sourcelist "$A/etc/sources.list";
Dir::Etc::sourceparts "$A/etc/sources.list.d";
Dir::Etc::parts "$A/etc/apt.conf.d";
Dir::Etc::preferencesparts "$A/etc/preferences.d";
Dir::State "$A/state";
Dir::State::status "$A/state/status";
Dir::Cache "$A/cache";
Debug::NoLocking "true";
APT::Sandbox::User "$(id -un)";
EOF
# Some mirrors serve a stale index for a suite we do not need (seen: bookworm-security
# i386); that is not fatal as long as the pinned package is found.
APT_CONFIG="$A/apt.conf" apt-get update -q >"$A/update.log" 2>&1 || echo "(apt-get update reported errors; see $A/update.log)" >&2
rm -f "$A/debs/"*.deb
(cd "$A/debs" && APT_CONFIG="$A/apt.conf" apt-get download -q "busybox-static:i386=$BUSYBOX_VERSION") \
  || die "busybox-static:i386=$BUSYBOX_VERSION is not available from the mirror (see README.md: update the pin)"
DEB=$(ls "$A/debs/"*.deb)
echo "$BUSYBOX_DEB_SHA256  $DEB" | sha256sum -c --quiet - || die "sha256 of $DEB differs from the pin"
rm -rf "$A/x"; dpkg-deb -x "$DEB" "$A/x"
BB="$A/x/bin/busybox"
# ELF magic, EI_CLASS=1 (32-bit), EI_DATA=1 (little endian), e_machine=3 (EM_386)
[[ "$(od -An -tx1 -N20 "$BB" | tr -d ' \n')" == 7f454c460101*0300 ]] || die "$BB is not a 32-bit i386 ELF"

# --- 5. initramfs --------------------------------------------------------------------------
log "building initramfs.cpio"
if "$BB" true 2>/dev/null; then   # host can run i386 binaries: check the committed applet list
  diff <(grep -v '^#' "$HERE/busybox-applets.txt") <("$BB" --list-full | grep / | grep -vx bin/busybox | LC_ALL=C sort) \
    || die "busybox applet list changed: regenerate images/linux/busybox-applets.txt"
fi
S="$WORK/stage"; rm -rf "$S"; mkdir -p "$S"
install -m 0755 "$BB" "$S/busybox"
install -m 0755 "$HERE/init" "$S/init"
for f in inittab rcS profile passwd group hostname; do cp "$HERE/etc/$f" "$S/$f"; done
chmod 0755 "$S/rcS"; chmod 0644 "$S"/{inittab,profile,passwd,group,hostname}
touch -h -d "@$SOURCE_DATE_EPOCH" "$S"/*
LIST="$WORK/initramfs.list"
{
  for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /etc /proc /sys /tmp /mnt /root /run /var; do
    echo "dir $d 0755 0 0"
  done
  echo "nod /dev/console 0600 0 0 c 5 1"
  echo "nod /dev/null 0666 0 0 c 1 3"
  echo "file /init $S/init 0755 0 0"
  echo "file /bin/busybox $S/busybox 0755 0 0"
  grep -v '^#' "$HERE/busybox-applets.txt" | while read -r a; do echo "slink /$a /bin/busybox 0777 0 0"; done
  echo "file /etc/inittab $S/inittab 0644 0 0"
  echo "file /etc/rcS $S/rcS 0755 0 0"
  echo "file /etc/profile $S/profile 0644 0 0"
  echo "file /etc/passwd $S/passwd 0644 0 0"
  echo "file /etc/group $S/group 0644 0 0"
  echo "file /etc/hostname $S/hostname 0644 0 0"
} > "$LIST"
"$GEN_INIT_CPIO" -t "$SOURCE_DATE_EPOCH" "$LIST" > "$WORK/initramfs.cpio"

# --- 6. outputs ------------------------------------------------------------------------------
install -m 0644 "$KDIR/arch/x86/boot/bzImage" "$OUT/bzImage"
install -m 0644 "$WORK/initramfs.cpio" "$OUT/initramfs.cpio"
log "outputs"
ls -l "$OUT/bzImage" "$OUT/initramfs.cpio"
sha256sum "$OUT/bzImage" "$OUT/initramfs.cpio"
strings "$KDIR/arch/x86/boot/bzImage" | grep -m1 '^6\.1' || true
if [[ -f "$ROOT/public/images/disk.img" ]]; then
  node "$HERE/update-manifest.mjs"
else
  echo "public/images/disk.img is missing: run images/disk/build.sh (it also updates manifest.json)" >&2
fi
}
main "$@"
