# The argument list of nixpkgs' nixos/lib/make-disk-image.nix (V2025, FACTS.md §1),
# written once as formals so that every nixdisk stand-in looks the same to Nix:
# `builtins.functionArgs` lists the same names, so nixpkgs' `callPackage` fills
# `pkgs` and `lib` exactly as it would for the real file, and serialize-args.nix
# takes its list of known names from here.
#
# Usage: `import ./make-disk-image-signature.nix (args: …)`; `args` holds only the
# arguments the caller passed. nixpkgs' defaults are applied on the TypeScript side,
# so the `? null` below never reach anyone. The trailing `...` lets misspelt names
# through (nixpkgs would reject them), so `nixdisk` can point at them with a
# suggestion instead of Nix's bare "unexpected argument".
body:
{ pkgs ? null
, lib ? null
, config ? null
, diskSize ? null
, additionalSpace ? null
, bootSize ? null
, contents ? null
, partitionTableType ? null
, installBootLoader ? null
, touchEFIVars ? null
, OVMF ? null
, efiFirmware ? null
, efiVariables ? null
, fsType ? null
, label ? null
, configFile ? null
, postVM ? null
, memSize ? null
, onlyNixStore ? null
, name ? null
, format ? null
, baseName ? null
, deterministic ? null
, rootGPUID ? null
, rootFSUID ? null
, copyChannel ? null
, additionalPaths ? null
, ...
}@args:
body args
