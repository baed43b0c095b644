# A store-only image: the closure of `additionalPaths`, copied to the root of an
# ext4 filesystem without partition table (what NixOS's qemu-vm mounts at /nix/store).
# No nixpkgs is needed: build it with
#
#   nixdisk build examples/store-only.nix -o result
let
  paths = import ./store-paths.nix;
in
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  # make-disk-image requires these; nixdisk never reads them, so empty stand-ins do.
  pkgs = { };
  lib = { };
  # A store-only image installs no system, so it needs no NixOS configuration
  # (nixpkgs' own store-only callers pass `config = { }` too).
  config = { };

  onlyNixStore = true;
  installBootLoader = false;
  copyChannel = false;
  additionalPaths = [ paths.launcher paths.motd ];
  format = "qcow2";
  partitionTableType = "none";
  additionalSpace = "0M";
}
