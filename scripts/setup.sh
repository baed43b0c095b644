#!/usr/bin/env bash
# Installs what nixdisk and its tests need on a Debian 12 machine, then builds nixdisk.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package that ships it
tools=(
  nix-instantiate:nix-bin nix-store:nix-bin nix-hash:nix-bin
  qemu-img:qemu-utils
  mkfs.ext4:e2fsprogs debugfs:e2fsprogs e2fsck:e2fsprogs resize2fs:e2fsprogs
  mkfs.vfat:dosfstools fsck.vfat:dosfstools mcopy:mtools
  sfdisk:fdisk sgdisk:gdisk parted:parted partx:util-linux
  sqlite3:sqlite3
  mkfs.btrfs:btrfs-progs mkfs.xfs:xfsprogs mkfs.erofs:erofs-utils
  mksquashfs:squashfs-tools mkfs.f2fs:f2fs-tools
  blkid:util-linux unshare:util-linux fakeroot:fakeroot faketime:faketime
  openssl:openssl pgrep:procps script:bsdutils
  nvim:neovim
  make:make g++:g++ python3:python3
)

missing=()
for pair in "${tools[@]}"; do
  command=${pair%%:*} package=${pair##*:}
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null 2>&1; then
    [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # With recommends, as tested: nix-bin's brings nix-setup-systemd (the nixbld users).
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# Nix as root on Debian needs its state directories; nix-bin's first run creates the rest.
if [[ $(id -u) == 0 ]]; then mkdir -p /nix/var/nix/gcroots /nix/var/nix/profiles; fi

stamp=node_modules/.nixdisk-setup
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_sum" ]]; then
  echo "setup: installing npm packages"
  # Not `npm ci`: npm 11 leaves other platforms' optional packages (rollup's) out of the
  # lock file and then refuses it as out of sync. --no-save keeps the lock file as it is.
  npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_sum" >"$stamp"
fi

if [[ ! -f grammar/build/Release/tree_sitter_nix_binding.node ]]; then
  echo "setup: building the Nix grammar"
  npm run --silent build:grammar >/dev/null
fi
npx tsc -p tsconfig.json
node scripts/bundle.mjs
