# Several images in one file, nix-build style: the file is a function whose
# arguments have defaults, and each image is an attribute.
#
#   nixdisk build examples/images.nix -A images.small -o result
#   nixdisk build examples/images.nix -A images.compressed --argstr label data -o result
{ label ? "nix-store"
, additionalSpace ? "16M"
}:
let
  paths = import ./store-paths.nix;
  makeDiskImage = args: import <nixpkgs/nixos/lib/make-disk-image.nix> ({
    pkgs = { }; # never read by nixdisk
    lib = { }; # never read by nixdisk
    config = { };
    onlyNixStore = true;
    installBootLoader = false;
    copyChannel = false;
    partitionTableType = "none";
    inherit label additionalSpace;
  } // args);
in
{
  images = {
    small = makeDiskImage {
      additionalPaths = [ paths.motd ];
      format = "raw";
    };
    compressed = makeDiskImage {
      additionalPaths = [ paths.launcher paths.motd ];
      format = "qcow2-compressed";
    };
  };
}
