# A full image that boots by BIOS and by UEFI: the stand-in system of
# examples/nixos-standin (Debian's kernel and a busybox initrd, NOT NixOS) with GRUB
# for i386-pc (boot code in the MBR, core image in the BIOS boot partition) and for
# x86_64-efi (EFI/BOOT/BOOTX64.EFI, efiInstallAsRemovable), on a `hybrid` layout.
#
#   nixdisk build examples/full-grub.nix -o result
#   qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
#     -drive file=result/nixos.qcow2,format=qcow2,if=virtio
let
  standin = import ./nixos-standin { loader = "grub"; grubEfiSupport = true; };
in
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { }; # never read by nixdisk (copyChannel = false)
  lib = { };
  inherit (standin) config;
  copyChannel = false;
  partitionTableType = "hybrid";
  bootSize = "64M";
  additionalSpace = "16M";
  format = "qcow2";
}
