# A full image that boots: the stand-in system of examples/nixos-standin (Debian's
# kernel and a busybox initrd, NOT NixOS) with systemd-boot on an `efi` layout, and
# the OVMF variable store with the boot entry a real install adds.
#
#   nixdisk build examples/full-systemd-boot.nix -o result
#   cp result/efi-vars.fd vars.fd; chmod u+w vars.fd
#   qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
#     -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
#     -drive if=pflash,format=raw,file=vars.fd -drive file=result/nixos.img,format=raw,if=virtio
let
  standin = import ./nixos-standin { loader = "systemd-boot"; canTouchEfiVariables = true; };
in
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { }; # never read by nixdisk (copyChannel = false)
  lib = { };
  inherit (standin) config;
  copyChannel = false;
  partitionTableType = "efi";
  bootSize = "64M";
  additionalSpace = "16M";
  format = "raw";
  touchEFIVars = true;
  efiVariables = "${standin.ovmf}/FV/OVMF_VARS.fd";
}
