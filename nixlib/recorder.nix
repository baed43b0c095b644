# What a make-disk-image call evaluates to while nixdisk evaluates a file: a set that
# still passes for a derivation (`"${img}/nixos.qcow2"` evaluates) and carries the call's
# serialized arguments under `callMarker`. The shim (nixlib/shim.nix) hands it out for
# every intercepted import of make-disk-image.nix; a substituted nixpkgs
# (src/nix/substitute.ts) has it as its nixos/lib/make-disk-image.nix.
let
  serializeArgs = import ./serialize-args.nix;

  callMarker = "__nixdiskMakeDiskImageCall";

  # The image is only built later, by nixdisk; a user's file may still interpolate
  # the result, so it gets a store-path-shaped name that cannot clash with a real one
  # ('e', 'o', 'u' and 't' are not in Nix's base-32 alphabet).
  placeholderHash = "nixdisknotbuiltyetplaceholder000";

  recordCall = import ./make-disk-image-signature.nix (args:
    let
      name = if builtins.isString (args.name or null) then args.name else "nixos-disk-image";
      outPath = "${builtins.storeDir}/${placeholderHash}-${name}";
      result = {
        type = "derivation";
        inherit name outPath;
        drvPath = "${builtins.storeDir}/${placeholderHash}-${name}.drv";
        outputName = "out";
        outputs = [ "out" ];
        out = result;
        all = [ result ];
        ${callMarker} = serializeArgs args;
      };
    in result);
in
{
  inherit callMarker placeholderHash recordCall;
}
