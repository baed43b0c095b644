#!/usr/bin/env bash
# Installs what nixdisk and its tests need on a Debian 12 machine, then builds nixdisk.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package that ships it
tools=(
  nix:nix-bin nix-instantiate:nix-bin nix-store:nix-bin nix-hash:nix-bin
  qemu-img:qemu-utils
  mkfs.ext4:e2fsprogs debugfs:e2fsprogs e2fsck:e2fsprogs resize2fs:e2fsprogs
  mkfs.vfat:dosfstools fsck.vfat:dosfstools mcopy:mtools
  sfdisk:fdisk sgdisk:gdisk parted:parted partx:util-linux
  sqlite3:sqlite3
  mkfs.btrfs:btrfs-progs mkfs.xfs:xfsprogs mkfs.erofs:erofs-utils
  mksquashfs:squashfs-tools mkfs.f2fs:f2fs-tools
  blkid:util-linux unshare:util-linux fakeroot:fakeroot faketime:faketime
  openssl:openssl pgrep:procps script:bsdutils
  sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client
  nvim:neovim
  make:make g++:g++ python3:python3
  # The bootable stand-in system (examples/nixos-standin) and the boot tests
  grub-mkimage:grub-common cpio:cpio busybox:busybox-static qemu-system-x86_64:qemu-system-x86
  /usr/lib/grub/i386-pc/boot.img:grub-pc-bin /usr/lib/grub/x86_64-efi/normal.mod:grub-efi-amd64-bin
  /usr/lib/systemd/boot/efi/systemd-bootx64.efi:systemd-boot-efi /usr/share/OVMF/OVMF_CODE_4M.fd:ovmf
  /boot/vmlinuz-*:linux-image-amd64
)

missing=()
for pair in "${tools[@]}"; do
  command=${pair%%:*} package=${pair##*:}
  if [[ $command == /* ]]; then
    # A file, not a command: present when the glob matches something.
    compgen -G "$command" >/dev/null && continue
  elif PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null 2>&1; then
    continue
  fi
  [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
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

# Debian may leave /boot/vmlinuz-* readable by root only: build the stand-in's kernel
# store path as root once, so that ordinary users find it in the store.
if [[ $(id -u) == 0 ]]; then
  nix-build examples/nixos-standin -A kernel --no-out-link --option substituters '' >/dev/null 2>&1 ||
    echo "setup: could not build the stand-in kernel (examples/nixos-standin); the boot tests will fail" >&2
fi

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
