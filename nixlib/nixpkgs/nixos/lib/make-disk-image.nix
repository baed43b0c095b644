# nixdisk's stand-in for <nixpkgs/nixos/lib/make-disk-image.nix>. nixdisk appends
# this tree to the end of the Nix search path, so it is only found when no real
# nixpkgs is on the path. Under `nixdisk build`/`plan` every import of a file named
# make-disk-image.nix is intercepted before it is read, so reaching this body means
# the file was evaluated by plain Nix.
import ../../../make-disk-image-signature.nix (_:
  throw ("nixdisk: this is nixdisk's stand-in for <nixpkgs/nixos/lib/make-disk-image.nix>"
    + " (no nixpkgs was found on the Nix search path). Build this file with `nixdisk build`,"
    + " or with nix-build through the nixdisk drop-in (coming)."))
