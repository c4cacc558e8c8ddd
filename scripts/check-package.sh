#!/usr/bin/env bash
# Checks the Debian package as its users meet it: lintian clean, the systemd unit verified and its
# exposure score at most 2.0 (systemd-analyze security), and the package installed with apt into a
# fresh Debian 12 tree (debootstrap), where `gatehouse --version` and `gatehouse check-config` on the
# example configuration run as the gatehouse user. Prints each figure; exits 1 on the first failure.
# Usage: scripts/check-package.sh build-package/gatehouse_<version>_amd64.deb   (as root)
set -euo pipefail
deb=$(realpath "$1")
fail() { echo "check-package: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot)"

echo "check-package: $(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"
lintian --fail-on error,warning --info --suppress-tags-from-file /dev/null "$deb" || fail "lintian"
echo "check-package: lintian clean"

work=$(mktemp -d /var/tmp/gatehouse-package-XXXXXX)
tree="$work/bookworm"
cleanup() {
  mountpoint -q "$tree/proc" 2>/dev/null && umount "$tree/proc"
  rm -rf "$work"
}
trap cleanup EXIT

debootstrap --variant=minbase bookworm "$tree" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
cp /etc/resolv.conf "$tree/etc/resolv.conf"
mount -t proc proc "$tree/proc"
cp "$deb" "$tree/tmp/gatehouse.deb"
chroot "$tree" apt-get update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; fail "apt-get update in the tree"; }
DEBIAN_FRONTEND=noninteractive chroot "$tree" apt-get install -y -qq /tmp/gatehouse.deb >>"$work/apt.log" 2>&1 ||
  { tail -30 "$work/apt.log" >&2; fail "apt-get install of the package into a fresh Debian 12 tree"; }
echo "check-package: installed into a fresh Debian 12 tree with apt"
# What a machine that runs services has besides a minimal tree: systemd, and procps for ExecReload's kill.
DEBIAN_FRONTEND=noninteractive chroot "$tree" apt-get install -y -qq --no-install-recommends systemd procps >>"$work/apt.log" 2>&1 ||
  { tail -30 "$work/apt.log" >&2; fail "apt-get install systemd procps in the tree"; }

version=$(chroot "$tree" gatehouse --version)
expected="gatehouse $(dpkg-deb -f "$deb" Version)"
[ "$version" = "$expected" ] || fail "gatehouse --version said '$version', not '$expected'"
echo "check-package: $version"
chroot "$tree" getent passwd gatehouse >/dev/null || fail "no gatehouse system user"
mode=$(chroot "$tree" stat -c '%a %U:%G' /etc/gatehouse/gatehouse.yaml)
[ "$mode" = "640 root:gatehouse" ] || fail "/etc/gatehouse/gatehouse.yaml is '$mode', not '640 root:gatehouse' (it names secret files)"
config=$(chroot "$tree" setpriv --reuid=gatehouse --regid=gatehouse --clear-groups \
  gatehouse check-config -c /etc/gatehouse/gatehouse.yaml 2>&1) || fail "check-config on the example: $config"
[ "$config" = "configuration OK" ] || fail "check-config said '$config'"
echo "check-package: check-config on the example, as the gatehouse user: $config"
if chroot "$tree" setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/gatehouse/gatehouse.yaml >/dev/null 2>&1; then
  fail "another user can read /etc/gatehouse/gatehouse.yaml"
fi

unit=/lib/systemd/system/gatehouse.service
[ -f "$tree$unit" ] || fail "no $unit in the package"
systemd-analyze verify --root="$tree" "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "systemd-analyze verify"; }
if [ -s "$work/verify.log" ]; then cat "$work/verify.log" >&2; fail "systemd-analyze verify printed warnings"; fi
echo "check-package: systemd-analyze verify: clean"
systemd-analyze security --offline=true --root="$tree" "$unit" >"$work/security.log" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for gatehouse.service: \([0-9.]*\).*/\1/p' "$work/security.log")
[ -n "$score" ] || { cat "$work/security.log" >&2; fail "systemd-analyze security gave no score"; }
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { grep -E '^✗' "$work/security.log" >&2 || true; fail "exposure $score is over 2.0"; }
echo "check-package: systemd-analyze security exposure: $score (at most 2.0)"
