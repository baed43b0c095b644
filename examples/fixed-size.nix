# A fixed 64 MiB disk (`diskSize` is in MiB) instead of the automatic size, with a
# legacy MBR layout and a VirtualBox image as output.
#
#   nixdisk build examples/fixed-size.nix -o result
let
  paths = import ./store-paths.nix;
  makeDiskImage = import <nixpkgs/nixos/lib/make-disk-image.nix>;
in
makeDiskImage {
  pkgs = { }; # never read by nixdisk
  lib = { }; # never read by nixdisk
  config = { };

  onlyNixStore = true;
  installBootLoader = false;
  copyChannel = false;
  additionalPaths = [ paths.launcher ];
  diskSize = 64;
  partitionTableType = "legacy";
  format = "vdi";
  baseName = "store";
}
