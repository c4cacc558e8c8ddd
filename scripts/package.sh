#!/usr/bin/env bash
# Builds the Debian package with Debian's own tooling (debian/, dpkg-buildpackage): a Release build,
# stripped, installing /usr/bin/gatehouse, /etc/gatehouse/gatehouse.yaml (root:gatehouse, 0640), the
# gatehouse system user and a hardened systemd unit. Writes build-package/gatehouse_<version>_amd64.deb
# and prints its path. Usage: scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test >/dev/null

# dpkg-buildpackage writes next to the source tree: build from a copy of what the build reads.
out=build-package
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
tree="$out/gatehouse-$version"
rm -rf "$out"
mkdir -p "$tree"
cp -r CMakeLists.txt src debian README.md docs "$tree/"
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -b -us -uc >../dpkg-buildpackage.log 2>&1) || {
  tail -40 "$out/dpkg-buildpackage.log" >&2
  echo "package: dpkg-buildpackage failed (whole log: $out/dpkg-buildpackage.log)" >&2
  exit 1
}
deb="$out/gatehouse_${version}_amd64.deb"
[ -f "$deb" ] || { echo "package: $deb was not made" >&2; exit 1; }
echo "$deb"
