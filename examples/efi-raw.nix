# A raw disk image with the `efi` layout: a FAT ESP (ending at bootSize) and the
# root partition, whose GPT unique GUID is fixed by `rootGPUID`. Only the store is
# copied to the root filesystem; nothing is booted from it.
#
#   nixdisk build examples/efi-raw.nix -o result
let
  paths = import ./store-paths.nix;
in
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { }; # never read by nixdisk
  lib = { }; # never read by nixdisk
  config = { };

  name = "efi-store-image";
  onlyNixStore = true;
  installBootLoader = false;
  copyChannel = false;
  additionalPaths = [ paths.greeting ];
  partitionTableType = "efi";
  format = "raw";
  bootSize = "64M";
  rootGPUID = "0A5EB2C4-6D7F-4B8E-9C1A-2B3C4D5E6F70";
  label = "store";
}
