# nixdisk's stand-in tree only provides nixos/lib/make-disk-image.nix (see there).
# Anything else of nixpkgs needs the real one on the search path.
_:
throw ("nixdisk: <nixpkgs> resolved to nixdisk's stand-in, which only provides"
  + " nixos/lib/make-disk-image.nix; this file needs a real nixpkgs:"
  + " pass -I nixpkgs=/path/to/nixpkgs or set NIX_PATH.")
