# nixdisk's drop-in for nixpkgs' nixos/lib/make-disk-image.nix: the same arguments with
# the same defaults (FACTS §1, V2025, `baseName` included), the same asserts (failing at
# evaluation with nixdisk's messages), and a derivation whose $out is laid out as
# nixpkgs' ($out/<baseName>.<ext>, nix-support/hydra-build-products, efi-vars.fd when
# touchEFIVars), built by `nixdisk build-derivation`: no VM, no KVM, no network.
#
# The builder needs nothing from the machine it runs on but nixdisk itself: the call's
# arguments reach it as structured attributes (`nixdiskCall`, the data serialize-args.nix
# makes for `nixdisk build`), and the closure as the derivation's inputs, with each
# path's NAR hash, size and references in the graph Nix exports (`exportReferencesGraph`),
# so it builds in the sandbox and on remote builders, which have no Nix database to ask.
#
# Three ways to use it (README, "Existing call sites"):
#   import /path/to/nixdisk/nixlib/make-disk-image.nix { … }            (change the import)
#   nix-build -I nixpkgs/nixos/lib/make-disk-image.nix=/path/to/nixdisk/nixlib/make-disk-image.nix …
#   (or the overlay / flake, which bring nixdisk as a package built from nixpkgs)
#
# Which nixdisk runs: with a real nixpkgs as `pkgs`, the nixdisk package built from this
# repository (package.nix) with its tools from nixpkgs; otherwise (a stand-in `pkgs`, as
# on machines without nixpkgs) this checkout's dist/nixdisk.js and its chunks, copied to
# the store, under the host's node and tools, which a sandboxed build must then be given
# with `extra-sandbox-paths` (/bin /usr /lib /lib64).
{ pkgs
, lib
, config
, diskSize ? "auto"
, additionalSpace ? "512M"
, bootSize ? "256M"
, contents ? [ ]
, partitionTableType ? "legacy"
, installBootLoader ? true
, touchEFIVars ? false
, OVMF ? pkgs.OVMF.fd
, efiFirmware ? OVMF.firmware
, efiVariables ? OVMF.variables
, fsType ? "ext4"
, label ? if onlyNixStore then "nix-store" else "nixos"
, configFile ? null
, postVM ? ""
, memSize ? 1024
, onlyNixStore ? false
, name ? "nixos-disk-image"
, format ? "raw"
, baseName ? "nixos"
, deterministic ? true
, rootGPUID ? "F222513B-DED1-49FA-B591-20CE86A2FE7F"
, rootFSUID ? if fsType == "ext4" then rootGPUID else null
, copyChannel ? true
, additionalPaths ? [ ]
}@args:
let
  serializeArgs = import ./serialize-args.nix;

  quote = builtins.toJSON;

  partitionTableTypes = [ "none" "legacy" "legacy+boot" "legacy+gpt" "efi" "efixbootldr" "hybrid" ];
  efiVarsTables = [ "hybrid" "efi" "efixbootldr" "legacy+gpt" ];
  halfOwned = entry: (entry.user or null == null) != (entry.group or null == null);

  # nixpkgs' asserts in nixpkgs' order, each with the message `nixdisk check` gives for the
  # same call (src/analysis/rules/asserts.ts). ext4-only-with-a-table is not among them:
  # nixdisk writes the other filesystems into partitions too.
  failedAssert =
    if !builtins.elem partitionTableType partitionTableTypes then
      "partitionTableType ${quote partitionTableType} is not one of ${builtins.concatStringsSep ", " (map quote partitionTableTypes)}"
    else if fsType == "ext4" && deterministic && rootFSUID == null then
      "In deterministic mode an ext4 root filesystem needs a rootFSUID; nixpkgs asserts rootFSUID != null (by default it equals rootGPUID)"
    else if touchEFIVars && !builtins.elem partitionTableType efiVarsTables then
      "touchEFIVars needs partitionTableType hybrid, efi, efixbootldr or legacy+gpt, not ${quote partitionTableType}"
    else if onlyNixStore && contents != [ ] then
      "A store-only image (onlyNixStore = true) cannot have contents; nixpkgs asserts contents == []"
    else if onlyNixStore && configFile != null then
      "A store-only image (onlyNixStore = true) cannot have a configFile; nixpkgs asserts configFile == null"
    else if onlyNixStore && installBootLoader then
      (if args ? installBootLoader
       then "A store-only image (onlyNixStore = true) cannot install a boot loader; set installBootLoader = false"
       else "installBootLoader defaults to true, which nixpkgs rejects for a store-only image (onlyNixStore = true); add installBootLoader = false")
    else if builtins.any halfOwned contents then
      let entry = builtins.head (builtins.filter halfOwned contents);
      in "This contents entry sets ${if entry.user or null != null then "user but not group" else "group but not user"}; nixpkgs needs both or neither"
    else null;

  # Files named by path values are read by the builder, so they go to the store as
  # nixpkgs' own script would put them ("${source}"): a builder sees nothing else.
  toStore = value: if builtins.isPath value then "${value}" else value;
  storeArguments =
    (if args ? contents then { contents = map (entry: entry // { source = toStore entry.source; }) contents; } else { })
    // (if args ? configFile then { configFile = toStore configFile; } else { })
    // (if args ? efiVariables then { efiVariables = toStore efiVariables; } else { });

  call = serializeArgs (args // storeArguments);

  # The store paths the call refers to, taken back from the serialized call with their
  # context (serialize-args.nix drops it), so that whatever nixdisk reads from the call
  # is an input of the derivation, and those that are whole store paths (or files in
  # them) roots of the exported graph: the closure nixdisk computes is inside it.
  referencesIn = value:
    if builtins.isList value then builtins.concatMap referencesIn value
    else if !builtins.isAttrs value then [ ]
    else if value ? "$drv" then [ (builtins.appendContext value."$out" { ${value."$drv"} = { outputs = [ value."$output" ]; }; }) ]
    else if value ? "$string" then [ (builtins.appendContext value."$string" (contextOf value."$context")) ]
    else builtins.concatMap referencesIn (builtins.attrValues value);

  contextOf = installables: builtins.listToAttrs (map
    (installable:
      let parts = builtins.match "(.*\\.drv)!(.*)" installable;
      in if parts != null then { name = builtins.elemAt parts 0; value = { outputs = [ (builtins.elemAt parts 1) ]; }; }
      else if builtins.match ".*\\.drv" installable != null then { name = installable; value = { allOutputs = true; }; }
      else { name = installable; value = { path = true; }; })
    installables);

  # The channel and efiVariables' default are serialized beside the arguments (full images).
  references = referencesIn [ call.arguments (call.channel or null) (call.defaultEfiVariables or null) ];

  # exportReferencesGraph takes whole store paths only: a file inside one (efiVariables,
  # "${pkg}/bin/x") exports the path it lies in, with the same context.
  storePathOf = string:
    let parts = builtins.match "(${builtins.storeDir}/[^/ ]+)(/[^ ]*)?" (builtins.unsafeDiscardStringContext string);
    in if parts == null then null else builtins.appendContext (builtins.head parts) (builtins.getContext string);
  graphRoots = builtins.filter (root: root != null) (map storePathOf references);

  # A real nixpkgs builds nixdisk as a package; anything else means this machine's nixdisk.
  isNixpkgs = builtins.isAttrs pkgs && pkgs ? callPackage && pkgs ? stdenv && pkgs ? buildNpmPackage;
  system = pkgs.stdenv.hostPlatform.system or pkgs.system or builtins.currentSystem;
  runner =
    if isNixpkgs then
      let nixdisk = pkgs.nixdisk or (pkgs.callPackage ../package.nix { });
      in { builder = "${nixdisk}/bin/nixdisk"; args = [ "build-derivation" ]; }
    else {
      # PATH for env to find node, and for nixdisk to find its tools (and for postVM).
      builder = "/usr/bin/env";
      args = [ "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin" "node" "--max-semi-space-size=4" "${hostCli}/dist/nixdisk.js" "build-derivation" ];
    };

  # This checkout's built CLI, as a store path: the builder (a build user, a sandbox, a
  # remote builder) reads it as an input, whatever the checkout's permissions, and
  # another nixdisk makes another derivation rather than reusing an older image.
  checkout = toString ../.;
  # The bin loads its commands' code from dist/chunks/ (scripts/bundle.mjs); the rest of
  # dist/ is tsc's output, which the bin never reads.
  isHostCliFile = file: _type:
    let
      relative = builtins.substring (builtins.stringLength checkout + 1) (builtins.stringLength file) (toString file);
      under = folder: builtins.substring 0 (builtins.stringLength folder + 1) relative == "${folder}/";
    in builtins.elem relative [ "package.json" "dist" "dist/nixdisk.js" "dist/chunks" "nixlib" ] || under "dist/chunks" || under "nixlib";
  hostCli = builtins.path { name = "nixdisk-host-cli"; path = ../.; filter = isHostCliFile; };

  image = derivation {
    inherit name system;
    inherit (runner) builder;
    args = runner.args;
    __structuredAttrs = true;
    # The names src/build-derivation.ts reads (DERIVATION_ATTRS).
    exportReferencesGraph.nixdiskClosure = graphRoots;
    nixdiskCall = call;
    nixdiskInputs = references;
  };
in
if failedAssert != null then throw "nixdisk: make-disk-image: ${failedAssert}"
else image // { passthru = { }; meta = { }; }
