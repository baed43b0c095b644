# A few small store paths for the examples, built from /bin/sh alone so that no
# nixpkgs is needed. Builders get an empty PATH, hence the absolute tool paths.
let
  build = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
in
rec {
  # A file and an executable script in a nested directory.
  greeting = build "greeting" ''
    /bin/mkdir -p $out/share/doc/greeting $out/bin
    echo "Hello from a disk image built by nixdisk." > $out/share/doc/greeting/README
    printf '#!/bin/sh\necho hello\n' > $out/bin/greet
    /bin/chmod 0755 $out/bin/greet
  '';

  # Refers to greeting by a symlink and by a path inside a file, so its closure is
  # two paths.
  launcher = build "launcher" ''
    /bin/mkdir -p $out/bin $out/etc
    /bin/ln -s ${greeting}/bin/greet $out/bin/greet
    echo "greeting=${greeting}" > $out/etc/launcher.conf
  '';

  # A single file as a store path.
  motd = builtins.toFile "motd" "Welcome.\n";
}
