# Turns the argument set of one make-disk-image call into plain data that
# `builtins.toJSON` / `nix-instantiate --json` can print and TypeScript can read.
# Shared by the evaluation shim and the nix-build drop-in, so both hand nixdisk the
# same shape:
#
#   { arguments = { <known name> = <value>; … };          # as passed, no defaults
#     unknownArguments = { <other name> = <shallow value>; … }; }
#
# Values:
#   derivation            { "$drv" = drvPath; "$out" = outPath; "$output" = "out";
#                           "$attrs" = { <passthru or `//`-added name> = <value>; … }; }
#                         ("$attrs" only for arguments, not inside `config`, and only
#                         when there are any; see serializePassthru)
#   path                  { "$path" = "/abs/path"; }   (never copied to the store)
#   string with context   { "$string" = s; "$context" = [ installables ]; }
#                         (`/nix/store/…drv!out` for a derivation output, a bare
#                         `.drv` for all of its outputs, or a plain store path)
#   function              { "$function" = true; }
#   too deep (a cycle)    { "$truncated" = true; }
#   not read              { "$dynamic" = "<why>"; }   (passthru values nixdisk leaves alone)
#   others                as they are (strings, numbers, booleans, null, lists, sets)
#
# `pkgs` and `lib` are dropped: nixdisk never reads them and printing them would
# evaluate all of nixpkgs. `config` is cut down to the few options nixdisk uses.
let
  knownFormals = builtins.functionArgs (import ./make-disk-image-signature.nix null);

  droppedNames = [ "pkgs" "lib" ];

  # Deep enough for any real `contents` entry; only a self-referencing set gets here.
  maxDepth = 32;

  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";

  plainString = builtins.unsafeDiscardStringContext;

  installablesOfContext = context: builtins.concatLists (builtins.attrValues (builtins.mapAttrs
    (path: entry:
      (if entry.path or false || entry.allOutputs or false then [ path ] else [ ])
      ++ map (output: "${path}!${output}") (entry.outputs or [ ]))
    context));

  serializeString = s:
    let context = builtins.getContext s;
    in if context == { } then s
    else { "$string" = plainString s; "$context" = installablesOfContext context; };

  serializeDerivation = d: {
    "$drv" = plainString d.drvPath;
    "$out" = plainString d.outPath;
    "$output" = d.outputName or "out";
  };

  # Names every derivation has: those of `derivation` itself (its inputs, outputs and
  # paths) and the ones stdenv adds. What is left is passthru or added with `//`, such
  # as pkgs.OVMF.fd's `firmware` and `variables`.
  ownNames = d:
    builtins.attrNames (d.drvAttrs or { }) ++ (d.outputs or [ "out" ])
    ++ [ "all" "drvAttrs" "drvPath" "outPath" "outputName" "type"
         "meta" "passthru" "override" "overrideAttrs" "overrideDerivation" ];

  # One level, and nothing is built or instantiated: passthru may hold whole test
  # suites (OVMF's `tests`) or update scripts, which a build must not evaluate.
  serializePassthru = v:
    let attempt = builtins.tryEval (builtins.seq v v);
        w = attempt.value;
    in if !attempt.success then { "$dynamic" = "a passthru value that fails to evaluate"; }
    else if builtins.isFunction w || (builtins.isAttrs w && w ? __functor) then { "$function" = true; }
    else if builtins.isPath w then { "$path" = toString w; }
    else if builtins.isString w then serializeString w
    else if builtins.isList w then { "$dynamic" = "a list in a derivation's passthru"; }
    else if isDerivation w then { "$dynamic" = "a derivation in a derivation's passthru"; }
    else if builtins.isAttrs w then { "$dynamic" = "an attribute set in a derivation's passthru"; }
    else w;

  serializeDerivationWithPassthru = d:
    let extra = builtins.removeAttrs d (ownNames d);
    in serializeDerivation d
       // (if extra == { } then { } else { "$attrs" = builtins.mapAttrs (_: serializePassthru) extra; });

  serializeWith = onDerivation: depth: v:
    if depth > maxDepth then { "$truncated" = true; }
    else if builtins.isFunction v then { "$function" = true; }
    else if builtins.isPath v then { "$path" = toString v; }
    else if builtins.isString v then serializeString v
    else if builtins.isList v then map (serializeWith onDerivation (depth + 1)) v
    else if isDerivation v then onDerivation v
    else if builtins.isAttrs v then
      (if v ? __functor then { "$function" = true; }
       else builtins.mapAttrs (_: serializeWith onDerivation (depth + 1)) v)
    else v;

  serialize = serializeWith serializeDerivation;

  # A misspelt argument may hold anything, even all of nixpkgs (`nixpkgs = pkgs;`):
  # say what it is without evaluating inside it.
  serializeShallow = v:
    if builtins.isList v then { "$list" = builtins.length v; }
    else if isDerivation v then { "$derivation" = plainString (v.name or ""); }
    else if builtins.isAttrs v && !(v ? __functor) then { "$attrs" = builtins.attrNames v; }
    else serialize maxDepth v;

  # An option that is missing, or fails to evaluate, reads as null: a store-only
  # image passes `config = { }`, and older NixOS versions lack some options.
  option = value:
    let attempt = builtins.tryEval value;
    in if attempt.success then attempt.value else null;

  serializeConfig = config: builtins.mapAttrs (_: serialize 1) {
    toplevel = option (config.system.build.toplevel or null);
    nixosInstall = option (config.system.build.nixos-install or null);
    nixosVersion = option (config.system.nixos.version or null);
    nixosVersionSuffix = option (config.system.nixos.versionSuffix or null);
    grubEnable = option (config.boot.loader.grub.enable or null);
    grubDevices = option (config.boot.loader.grub.devices or null);
    grubEfiSupport = option (config.boot.loader.grub.efiSupport or null);
    systemdBootEnable = option (config.boot.loader.systemd-boot.enable or null);
    limineEnable = option (config.boot.loader.limine.enable or null);
    efiCanTouchEfiVariables = option (config.boot.loader.efi.canTouchEfiVariables or null);
    efiSysMountPoint = option (config.boot.loader.efi.efiSysMountPoint or null);
  } // {
    # Full images (src/image/system/): who owns `contents`, resolved as the first
    # activation would (FACTS §6.7); and whether another tool than
    # update-users-groups.pl allocates the ids that are not declared.
    users = option (builtins.mapAttrs (_: u: {
      uid = option (u.uid or null);
      group = option (u.group or "");
      isSystemUser = option (u.isSystemUser or false);
      isNormalUser = option (u.isNormalUser or false);
    }) (config.users.users or { }));
    groups = option (builtins.mapAttrs (_: g: { gid = option (g.gid or null); }) (config.users.groups or { }));
    sysusersEnable = option (config.systemd.sysusers.enable or null);
    userbornEnable = option (config.services.userborn.enable or null);
  } // builtins.mapAttrs (_: serialize 1) {
    # Boot loaders (src/image/boot/), read where NixOS exposes them (FACTS §7.5):
    # GRUB's settings through the grub-config.xml its install script names. Serialized
    # like the first block: packages keep their derivation, so nixdisk realises them.
    bootLoaderId = option (config.system.boot.loader.id or null);
    installBootLoaderScript = option (config.system.build.installBootLoader or null);
    systemdPackage = option (config.systemd.package or null);
    systemdBootEditor = option (config.boot.loader.systemd-boot.editor or null);
    systemdBootConsoleMode = option (config.boot.loader.systemd-boot.consoleMode or null);
    systemdBootXbootldrMountPoint = option (config.boot.loader.systemd-boot.xbootldrMountPoint or null);
    systemdBootSortKey = option (config.boot.loader.systemd-boot.sortKey or null);
    systemdBootExtraFiles = option (config.boot.loader.systemd-boot.extraFiles or null);
    systemdBootExtraEntries = option (config.boot.loader.systemd-boot.extraEntries or null);
    systemdBootExtraEfiDrivers = option (config.boot.loader.systemd-boot.extraEfiDrivers or null);
    systemdBootExtraInstallCommands = option (config.boot.loader.systemd-boot.extraInstallCommands or null);
    loaderTimeout = option (config.boot.loader.timeout or null);
    distroName = option (config.system.nixos.distroName or null);
  };

  # The channel make-disk-image copies when copyChannel (FACTS §6.2), made by the same
  # recipe from the same inputs, so that with nixpkgs as `pkgs` it is nixpkgs' own
  # store path: every character of the script counts. A `pkgs` without `path` (or
  # without runCommand / lib.cleanSource to build it with) cannot give a channel.
  serializeChannel = args:
    let
      pkgs = args.pkgs or { };
      lib = args.lib or { };
      config = args.config or { };
      version = config.system.nixos.version or "unknown";
      versionSuffix = config.system.nixos.versionSuffix or "";
      nixpkgs = lib.cleanSource pkgs.path;
      missing = builtins.filter (n: n != null) [
        (if pkgs ? path then null else "pkgs.path")
        (if pkgs ? runCommand then null else "pkgs.runCommand")
        (if lib ? cleanSource then null else "lib.cleanSource")
      ];
    in
    if !(args.copyChannel or true) || (args.onlyNixStore or false) then null
    else if missing != [ ] then { "$missing" = missing; }
    else serialize 1 (pkgs.runCommand "nixos-${version}" { } (
      "mkdir -p $out\n"
      + "cp -prd ${nixpkgs.outPath} $out/nixos\n"
      + "chmod -R u+w $out/nixos\n"
      + "if [ ! -e $out/nixos/nixpkgs ]; then\n"
      + "  ln -s . $out/nixos/nixpkgs\n"
      + "fi\n"
      + "rm -rf $out/nixos/.git\n"
      + "echo -n ${versionSuffix} > $out/nixos/.version-suffix\n"));

  serializeKnown = name: value:
    if name == "config" then serializeConfig value else serializeWith serializeDerivationWithPassthru 0 value;

in
args: {
  arguments = builtins.mapAttrs serializeKnown
    (builtins.removeAttrs (builtins.intersectAttrs knownFormals args) droppedNames);
  unknownArguments = builtins.mapAttrs (_: serializeShallow)
    (builtins.removeAttrs args (builtins.attrNames knownFormals));
  channel = serializeChannel args;
  # efiVariables' default, `OVMF.variables` (OVMF defaults to pkgs.OVMF.fd), for touchEFIVars.
  defaultEfiVariables =
    if (args.touchEFIVars or false) && !(args ? efiVariables)
    then serialize 1 (option ((args.OVMF or (args.pkgs.OVMF.fd or { })).variables or null))
    else null;
}
