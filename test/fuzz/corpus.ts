/** Seeded inputs for the fuzz test and the directory-walk tests: reproducible from the seed alone. */

/** mulberry32: a tiny PRNG whose sequence depends only on the seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SEEDS: readonly string[] = [
  `{ pkgs, lib, config }:
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  inherit pkgs lib config;
  partitionTableType = "efi";
  diskSize = 4096;
  bootSize = "512M";
  format = "qcow2";
  contents = [ { source = ./motd; target = "/etc/motd"; mode = "0644"; user = "root"; group = "root"; } ];
}
`,
  `{ pkgs, config, ... }:
let
  mk = import "\${pkgs.path}/nixos/lib/make-disk-image.nix";
  common = { inherit pkgs config; lib = pkgs.lib; };
in {
  a = mk (common // { partitionTableType = "hybrid"; label = "x\${toString 1}"; });
  b = mk { inherit pkgs config; lib = pkgs.lib; onlyNixStore = true; installBootLoader = false; fsType = "erofs"; partitionTableType = "none"; };
}
`,
  `{ pkgs, lib, config }:
pkgs.callPackage <nixpkgs/nixos/lib/make-disk-image.nix> rec {
  inherit config;
  diskSize = "auto";
  additionalSpace = "1024MB";
  partitionTableType = if config.boot.loader.grub.enable then "legacy" else "efi";
  rootGPUID = "F222513B-DED1-49FA-B591-20CE86A2FE7F";
  rootFSUID = rootGPUID;
  additionalPaths = [ pkgs.hello ];
  postVM = ''
    echo \${toString diskSize}
  '';
}
`,
  `# not a disk image at all
{ stdenv, fetchurl }:
stdenv.mkDerivation rec { pname = "x"; version = "1.0"; src = fetchurl { url = "https://e/\${version}.tgz"; sha256 = ""; }; }
`,
];

const TOKENS = ['{', '}', '[', ']', '(', ')', ';', '=', '"', "''", '${', 'rec', 'let', 'in', 'inherit', 'with', ':', '//', '++', '.', '?', 'or', '\n', ' ', 'import', '<nixpkgs/nixos/lib/make-disk-image.nix>', 'diskSize', 'bootSize = "1G";', 'contents = [', 'null', '-1', '0.5', '\\', '#', '/*', '*/', 'é', '\0', 'a.b.c', './x'];

/** One mutation of a seed: truncation, token insertions, deletions and duplicated spans, chosen by `random`. */
export function mutate(random: () => number, base: string): string {
  let text = base;
  const edits = 1 + Math.floor(random() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (text.length + 1));
    switch (Math.floor(random() * 5)) {
      case 0:
        text = text.slice(0, at);
        break;
      case 1:
        text = text.slice(0, at) + TOKENS[Math.floor(random() * TOKENS.length)] + text.slice(at);
        break;
      case 2:
        text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 20));
        break;
      case 3: {
        const length = Math.floor(random() * 60);
        text = text.slice(0, at) + text.slice(at, at + length).repeat(1 + Math.floor(random() * 3)) + text.slice(at);
        break;
      }
      default:
        text = text.slice(0, at) + String.fromCharCode(Math.floor(random() * 128)) + text.slice(at);
    }
  }
  return text;
}
