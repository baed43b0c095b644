# nixdisk's evaluation entry point (driven by src/nix/evaluate.ts):
#
#   nix-instantiate --eval --strict --json \
#     --expr 'import …/shim.nix { file = "/abs/image.nix"; attrPath = [ "a" "b" ]; }' \
#     --arg … --argstr … -A call
#
# Nix calls the returned `{ ... }@autoArgs` function with every --arg/--argstr, so
# those are parsed and evaluated by Nix itself, as for nix-build. (`-A call` makes
# Nix call it even without any --arg: nix-instantiate --eval skips the final
# auto-call when there are no arguments, but not the one before each selection.)
#
# The user's file is read with `scopedImport`, and so is every file it imports, so
# that each `import`/`scopedImport` of a file named make-disk-image.nix, at any
# depth, yields a recorder instead: it takes the same arguments and returns a set
# that still passes for a derivation (`"${img}/nixos.qcow2"` evaluates), carrying
# the serialized arguments. The file is not read, so the interception also works
# when the path does not exist (e.g. `<nixpkgs/…>` without nixpkgs). nixpkgs'
# `callPackage ./make-disk-image.nix` goes through `import` too, provided that
# nixpkgs itself was imported by the user's file (and hence through the shim).
#
# `call` is the serialized call (serialize-args.nix).
#
# Decisions and limits:
# - The selected value must be the call's result itself. A string made from it
#   (`img + "/nixos.qcow2"`) is refused with a hint, since nixdisk writes the whole
#   output folder; a set holding calls is refused with their names.
# - Interception is by the file's name exactly (`my-make-disk-image.nix` is read as
#   usual), so nixdisk's own drop-in nixlib/make-disk-image.nix is intercepted too.
# - Files read through scopedImport are not cached by Nix, so a real nixpkgs
#   imported by the user's file evaluates more slowly than under nix-build.
# - Values passed with --arg are evaluated by Nix before the shim sees them: a
#   `--arg pkgs 'import <nixpkgs> { }'` is not intercepted inside.
{ file
, attrPath
  # false: the file is read with plain `import` (Nix caches each file) and calls are
  # recorded only where a substituted nixpkgs (src/nix/substitute.ts) puts the recorder.
, intercept ? true
  # nixdisk's stand-in nixpkgs, when `<nixpkgs>` is to be looked up first: if the search
  # path names another nixpkgs (one with nixos/lib/make-disk-image.nix), `call` is
  # `{ nixpkgsOnSearchPath = <its path>; }` and the file is not read, so that
  # evaluate.ts evaluates it against a substitute of that nixpkgs instead.
, standInNixpkgs ? null
}:
{ ... }@autoArgs:
let
  realScopedImport = builtins.scopedImport;

  isMakeDiskImageFile = path: baseNameOf (toString path) == "make-disk-image.nix";

  inherit (import ./recorder.nix) callMarker placeholderHash recordCall;

  # The names every intercepted file sees instead of the built-in ones. A file that
  # calls scopedImport with its own overrides keeps them, except that import and
  # scopedImport stay intercepted below it.
  interceptingScope = attrs: attrs // {
    import = path: if isMakeDiskImageFile path then recordCall else realScopedImport (interceptingScope attrs) path;
    scopedImport = moreAttrs: path:
      if isMakeDiskImageFile path then recordCall else realScopedImport (interceptingScope (attrs // moreAttrs)) path;
    builtins = (attrs.builtins or builtins) // {
      inherit (interceptingScope attrs) import scopedImport;
    };
  };

  value = if intercept then (interceptingScope { }).import file else import file;

  # nix-build's auto-calling: a function with formals gets the --arg/--argstr values
  # it names; a missing argument without a default is an error. Nix cannot tell a
  # function with `...` apart here, so it gets only the names it declares.
  autoCall = where: v:
    if builtins.isFunction v then
      let
        formals = builtins.functionArgs v;
        missing = builtins.filter (n: !formals.${n} && !(autoArgs ? ${n})) (builtins.attrNames formals);
      in
      if missing != [ ] then
        let n = builtins.head missing;
        in throw "nixdisk: ${where} is a function whose argument `${n}` has no default; pass it with `--arg ${n} EXPR` or `--argstr ${n} STRING`"
      else v (builtins.intersectAttrs formals autoArgs)
    else v;

  # `file` is a path value for a search-path form (`<nixpkgs/nixos>`): toString names it
  # without copying it to the store.
  describePath = path: if path == [ ] then toString file else "attribute `${builtins.concatStringsSep "." path}` of ${toString file}";

  isCall = v: builtins.isAttrs v && v ? ${callMarker};

  listNames = names:
    let shown = builtins.genList (builtins.elemAt names) (if builtins.length names > 20 then 20 else builtins.length names);
    in builtins.concatStringsSep ", " shown + (if builtins.length names > 20 then ", …" else "");

  # Nix's findAlongAttrPath: auto-call, then select an attribute or a list index.
  select = done: v: name:
    let
      here = autoCall (describePath done) v;
      path = done ++ [ name ];
      index = builtins.fromJSON name;
      isIndex = builtins.match "[0-9]+" name != null;
    in
    if isIndex && builtins.isList here then
      (if index < builtins.length here then builtins.elemAt here index
       else throw "nixdisk: ${describePath done} is a list of length ${toString (builtins.length here)}, so it has no element ${name}")
    else if builtins.isAttrs here then
      (if here ? ${name} then here.${name}
       else throw "nixdisk: ${describePath path} does not exist; ${describePath done} has: ${listNames (builtins.attrNames here)}")
    else throw "nixdisk: ${describePath done} is ${describe here}, so it has no attribute `${name}`";

  selectPath = builtins.foldl' ({ done, v }: name: { done = done ++ [ name ]; v = select done v name; }) { done = [ ]; v = value; } attrPath;

  selected = autoCall (describePath attrPath) selectPath.v;

  isPlaceholderString = s: builtins.match ".*${placeholderHash}.*" (builtins.unsafeDiscardStringContext s) != null;

  describe = v:
    let type = builtins.typeOf v;
    in if type == "set" then
      (if (v.type or null) == "derivation" then "a derivation (${v.name or "unnamed"})" else "a set")
    else if type == "string" && isPlaceholderString v then
      "a string made from a make-disk-image result; point -A at the make-disk-image call itself"
    else if type == "lambda" then "a function"
    else if type == "int" then "an integer"
    else "a ${type}";

  # A set that is not a call itself may hold calls: name them so `-A` is one step away.
  callsInside = v:
    builtins.filter (n: let attempt = builtins.tryEval (isCall v.${n}); in attempt.success && attempt.value)
      (builtins.attrNames v);

  notACall =
    let
      inside = if builtins.isAttrs selected then callsInside selected else [ ];
      hint = if inside == [ ] then "" else "; it holds make-disk-image calls at: ${listNames inside} (choose one with -A)";
    in throw "nixdisk: ${describePath attrPath} is not a make-disk-image call (it is ${describe selected})${hint}";

  # The stand-in is on the search path after the user's entries, so `<nixpkgs>` always
  # resolves; it is another nixpkgs when it resolves elsewhere.
  nixpkgsOnSearchPath =
    if standInNixpkgs == null then null
    else
      let found = toString (builtins.findFile builtins.nixPath "nixpkgs");
      in if found != standInNixpkgs && builtins.pathExists (found + "/nixos/lib/make-disk-image.nix") then found else null;
in
{
  call =
    if nixpkgsOnSearchPath != null then { inherit nixpkgsOnSearchPath; }
    else if isCall selected then selected.${callMarker}
    else notACall;
}
