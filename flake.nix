# nixdisk's flake: the package, the drop-in for nixpkgs' make-disk-image, and an overlay.
#
#   packages.<system>.nixdisk / default   nixdisk built from this repository (package.nix)
#   overlays.default                      adds pkgs.nixdisk and pkgs.makeDiskImageNixdisk
#   lib.makeDiskImage                     the drop-in: call it as nixpkgs' make-disk-image.nix
#
# The drop-in uses pkgs.nixdisk when the overlay is applied (else it builds package.nix).
{
  description = "Build NixOS disk images from existing make-disk-image call sites, without a VM";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: prev: {
        nixdisk = final.callPackage ./package.nix { };
        makeDiskImageNixdisk = args: import ./nixlib/make-disk-image.nix ({ pkgs = final; inherit (final) lib; } // args);
      };

      packages = forEachSystem (pkgs: rec {
        nixdisk = pkgs.callPackage ./package.nix { };
        default = nixdisk;
      });

      lib.makeDiskImage = import ./nixlib/make-disk-image.nix;
    };
}
