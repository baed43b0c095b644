# nixdisk as a Nix package: `pkgs.callPackage ./package.nix { }` (the flake's packages and
# overlay do this). npm dependencies come from package-lock.json (fetched by
# buildNpmPackage), the Nix grammar in grammar/ is compiled by node-gyp, and every tool
# nixdisk runs comes from nixpkgs through NIXDISK_TOOL_PATH, which nixdisk then uses
# exclusively (src/tools.ts): a build never reaches for the host's tools.
#
# Not built on the machines nixdisk is developed on (they have no nixpkgs), hence
# npmDepsHash: replace it with the hash the first build prints (README).
{ lib
, buildNpmPackage
, nodejs_20
, makeWrapper
, python3
, qemu-utils
, e2fsprogs
, dosfstools
, mtools
, util-linux
, gptfdisk
, coreutils
, gnutar
, btrfs-progs
, xfsprogs
, erofs-utils
, squashfsTools
, f2fs-tools
, bash
, nix
}:
let
  tools = [
    qemu-utils e2fsprogs dosfstools mtools util-linux gptfdisk coreutils gnutar bash nix
    btrfs-progs xfsprogs erofs-utils squashfsTools f2fs-tools
  ];
in
buildNpmPackage {
  pname = "nixdisk";
  version = (lib.importJSON ./package.json).version;

  src = lib.cleanSourceWith {
    src = ./.;
    filter = path: type:
      !(builtins.elem (baseNameOf path) [ "node_modules" "dist" "result" ".tmp" ])
      && !(lib.hasSuffix "/grammar/build" path);
  };

  npmDepsHash = lib.fakeHash;
  nodejs = nodejs_20;

  nativeBuildInputs = [ makeWrapper python3 ];
  # node-gyp compiles the grammar against these headers instead of downloading them.
  npm_config_nodedir = nodejs_20;

  # `npm run build`: the grammar, tsc, the one-file bundle.
  npmBuildScript = "build";

  # npm's own install would pack by .gitignore, which leaves out dist/ and the grammar.
  installPhase = ''
    runHook preInstall
    npm prune --omit=dev --no-audit --no-fund
    root=$out/lib/nixdisk
    mkdir -p $root/grammar/build/Release $out/bin
    cp -r package.json dist nixlib node_modules $root/
    cp -r grammar/queries $root/grammar/
    cp grammar/build/Release/tree_sitter_nix_binding.node $root/grammar/build/Release/
    makeWrapper ${nodejs_20}/bin/node $out/bin/nixdisk \
      --add-flags "--max-semi-space-size=4 $root/dist/nixdisk.js" \
      --set NIXDISK_TOOL_PATH ${lib.makeBinPath tools}
    runHook postInstall
  '';

  meta = {
    description = "Build NixOS disk images from existing make-disk-image call sites, without a VM";
    license = lib.licenses.mit;
    mainProgram = "nixdisk";
    platforms = lib.platforms.linux;
  };
}
