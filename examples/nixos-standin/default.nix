# A STAND-IN for a NixOS system, for the full-image examples and the boot tests: there is
# no nixpkgs on this machine, so the pieces come from Debian's packages, made into store
# paths with nothing but /bin/sh. It is not NixOS. What it shares with NixOS is the
# shape nixdisk reads (FACTS §7.5):
#   - a toplevel with `boot.json` (org.nixos.bootspec.v1), `init`, `kernel`, `initrd`,
#     `kernel-params`, `nixos-version`;
#   - `config` with the options at their NixOS names: `system.build.toplevel`,
#     `system.build.installBootLoader` (for GRUB an install-grub.sh naming a
#     grub-config.xml written by builtins.toXML), `system.build.grub`,
#     `system.boot.loader.id`, `systemd.package`, `boot.loader.*`.
# Specialisations are toplevels of their own (other kernel parameters, same kernel).
# The kernel is Debian's linux-image-amd64; the initrd is busybox-static whose /init
# prints a marker and the kernel command line on the serial console, then powers off.
#
# Debian installs /boot/vmlinuz-* readable by root only on some systems: scripts/setup.sh
# (as root) builds the kernel store path once, so that ordinary users find it in the store.
{ loader ? "systemd-boot"             # "systemd-boot", "grub", or anything NixOS names (for the error)
, efiSysMountPoint ? "/boot"
, xbootldrMountPoint ? null           # systemd-boot's $BOOT, for the efixbootldr layout
, grubDevices ? [ "/dev/vda" ]        # [ "nodev" ] for EFI only
, grubEfiSupport ? false
, canTouchEfiVariables ? false
, withBootspec ? true
, specialisations ? { }               # name → extra kernel parameters: NixOS's `specialisation.<name>`
, systemdBootExtraFiles ? { }         # boot.loader.systemd-boot.extraFiles
, systemdBootExtraEntries ? { }       # boot.loader.systemd-boot.extraEntries
, systemdBootExtraInstallCommands ? ""
, grubUsers ? { }                     # boot.loader.grub.users: name → { hashedPassword | password | …File }
, grubTheme ? false                   # a small boot.loader.grub.theme (a theme.txt and a font)
}:
let
  build = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };

  # The newest Debian kernel installed.
  kernelVersions = builtins.filter (n: builtins.match "vmlinuz-.*" n != null) (builtins.attrNames (builtins.readDir /boot));
  kernelFile = builtins.elemAt kernelVersions (builtins.length kernelVersions - 1);
  kernelVersion = builtins.substring 8 (-1) kernelFile;

  kernel = build "linux-${kernelVersion}" ''
    /bin/mkdir -p $out
    /bin/cp /boot/${kernelFile} $out/bzImage
  '';

  initrd = build "initrd-standin" ''
    set -e
    /bin/mkdir -p $out root/bin root/dev root/proc
    /bin/cp /bin/busybox root/bin/busybox
    /bin/cat > root/init <<'INIT'
    #!/bin/busybox sh
    # No /dev/console in the archive (making one needs root): mount devtmpfs first.
    /bin/busybox mount -t devtmpfs devtmpfs /dev
    exec </dev/console >/dev/console 2>&1
    /bin/busybox mount -t proc proc /proc
    echo "NIXDISK-STANDIN-BOOTED"
    echo "NIXDISK-STANDIN-CMDLINE: $(/bin/busybox cat /proc/cmdline)"
    /bin/busybox poweroff -f
    INIT
    /bin/chmod 0755 root/init root/bin/busybox
    cd root
    /usr/bin/find . | /usr/bin/sort | /usr/bin/cpio --quiet -o -H newc --reproducible > $out/initrd
  '';

  kernelParams = [ "console=ttyS0" "panic=-1" "loglevel=4" "nixdisk.standin=1" ];
  label = "NixOS Stand-in 0.1 (Linux ${kernelVersion})";

  # A system toplevel as NixOS lays it out; `children` are its specialisations, linked
  # under specialisation/<name> and listed in boot.json as NixOS's bootspec module does.
  system = name: params: children: build name ''
    /bin/mkdir -p $out
    /usr/bin/printf '#!/bin/sh\necho "stage 2 of the stand-in: nothing to do"\n' > $out/init
    /bin/chmod 0755 $out/init
    /bin/ln -s ${kernel}/bzImage $out/kernel
    /bin/ln -s ${initrd}/initrd $out/initrd
    /usr/bin/printf '%s' '${builtins.concatStringsSep " " params}' > $out/kernel-params
    /usr/bin/printf '0.1-standin' > $out/nixos-version
    /usr/bin/printf "" > $out/configuration-name
    ${if children == { } then "" else "/bin/mkdir $out/specialisation"}
    ${builtins.concatStringsSep "\n" (builtins.attrValues (builtins.mapAttrs (n: child: "/bin/ln -s ${child} $out/specialisation/${n}") children))}
    ${if withBootspec then ''
      /usr/bin/printf '%s\n' '{"org.nixos.bootspec.v1":{"init":"'$out'/init","initrd":"${initrd}/initrd","kernel":"${kernel}/bzImage","kernelParams":${builtins.toJSON params},"label":"${label}","system":"x86_64-linux","toplevel":"'$out'"},"org.nixos.specialisation.v1":{${
        builtins.concatStringsSep "," (builtins.attrValues (builtins.mapAttrs (n: child: "\"${n}\":'\"$(/bin/cat ${child}/boot.json)\"'") children))
      }}}' > $out/boot.json
    '' else ""}
  '';

  toplevel = system "nixos-system-standin-0.1" kernelParams
    (builtins.mapAttrs (n: extra: system "nixos-system-standin-${n}-0.1" (kernelParams ++ extra) { }) specialisations);

  systemd = build "systemd-standin" ''
    /bin/mkdir -p $out/lib/systemd/boot/efi
    /bin/cp /usr/lib/systemd/boot/efi/systemd-bootx64.efi $out/lib/systemd/boot/efi/
  '';

  grubPackage = platform: build "grub-${platform}-2.06-standin" ''
    /bin/mkdir -p $out/bin $out/lib/grub/${platform} $out/share/grub
    /bin/cp /usr/bin/grub-mkimage $out/bin/
    /usr/bin/find /usr/lib/grub/${platform} -maxdepth 1 -type f -exec /bin/cp {} $out/lib/grub/${platform}/ \;
    /bin/cp /usr/share/grub/unicode.pf2 $out/share/grub/
  '';
  theme = build "grub-theme-standin" ''
    /bin/mkdir -p $out/fonts
    /usr/bin/printf 'title-text: "nixdisk stand-in"\ndesktop-color: "#000000"\n' > $out/theme.txt
    /bin/cp /usr/share/grub/unicode.pf2 $out/fonts/unicode.pf2
  '';
  grub = if grubDevices == [ "nodev" ] then null else grubPackage "i386-pc";
  grubEfi = if grubEfiSupport then grubPackage "x86_64-efi" else null;

  # grub.nix's grubConfig, reduced to what a one-disk install reads; the values are
  # strings, booleans and lists as there (`f` turns a missing package into "").
  f = x: if x == null then "" else "${x}";
  grubConfigXml = builtins.toXML {
    grub = f grub;
    grubEfi = f grubEfi;
    grubTarget = "i386-pc";
    grubTargetEfi = if grubEfiSupport then "x86_64-efi" else "";
    fullName = "grub-2.06";
    fullVersion = "2.06";
    version = 2;
    bootPath = "/boot";
    storePath = "/nix/store";
    efiSysMountPoint = efiSysMountPoint;
    bootloaderId = "NixOS${builtins.replaceStrings [ "/" ] [ "-" ] efiSysMountPoint}";
    devices = grubDevices;
    efiSupport = grubEfiSupport;
    efiInstallAsRemovable = grubEfiSupport && !canTouchEfiVariables;
    inherit canTouchEfiVariables;
    copyKernels = false;
    fsIdentifier = "uuid";
    timeout = 1;
    default = "0";
    # The tests read the serial console.
    extraConfig = "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console";
    extraEntries = "";
    extraEntriesBeforeNixOS = false;
    extraPerEntryConfig = "";
    extraPrepareConfig = "";
    entryOptions = "--class nixos --unrestricted";
    subEntryOptions = "--class nixos";
    font = "";
    splashImage = "";
    splashMode = "normal";
    backgroundColor = "";
    theme = if grubTheme then f theme else "";
    # grub.nix's users submodule: every field present, null when unset.
    users = builtins.mapAttrs (_: u: { hashedPassword = null; hashedPasswordFile = null; password = null; passwordFile = null; } // u) grubUsers;
    extraGrubInstallArgs = [ ];
    useOSProber = false;
    gfxmodeEfi = "auto";
    gfxmodeBios = "1024x768";
    gfxpayloadEfi = "keep";
    gfxpayloadBios = "text";
  };
  grubConfigFile = derivation {
    name = "grub-config.xml";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "/usr/bin/printf '%s' \"$xml\" > $out" ];
    xml = grubConfigXml;
  };
  # NixOS runs `perl install-grub.pl <grub-config.xml> $@`; the stand-in's script refuses
  # to run, since nixdisk only reads the XML it names.
  installGrubPl = builtins.toFile "install-grub.pl" ''die "the nixdisk stand-in does not install GRUB itself\n";'';
  installGrub = build "install-grub.sh" ''
    /usr/bin/printf '#!/bin/sh\n/usr/bin/perl ${installGrubPl} ${grubConfigFile} $@\n' > $out
    /bin/chmod 0755 $out
  '';
  installSystemdBoot = build "systemd-boot" ''
    /usr/bin/printf '#!/bin/sh\necho "the nixdisk stand-in does not install systemd-boot itself" >&2\nexit 1\n' > $out
    /bin/chmod 0755 $out
  '';

  config = {
    system.build.toplevel = toplevel;
    system.build.installBootLoader = if loader == "grub" then installGrub else installSystemdBoot;
    system.build.grub = grub;
    system.boot.loader.id = loader;
    system.nixos = { version = "0.1-standin"; versionSuffix = ""; distroName = "NixOS"; };
    systemd.package = systemd;
    boot.loader = {
      timeout = 1;
      grub = { enable = loader == "grub"; devices = grubDevices; efiSupport = grubEfiSupport; };
      systemd-boot = {
        enable = loader == "systemd-boot";
        editor = false;
        consoleMode = "keep";
        sortKey = "nixos";
        inherit xbootldrMountPoint;
        extraFiles = systemdBootExtraFiles;
        extraEntries = systemdBootExtraEntries;
        extraEfiDrivers = { };
        extraInstallCommands = systemdBootExtraInstallCommands;
      };
      efi = { inherit canTouchEfiVariables efiSysMountPoint; };
    };
  };

  # nixpkgs' OVMF.fd layout: FV/OVMF_CODE.fd and FV/OVMF_VARS.fd (the 4 MiB pair).
  ovmf = build "OVMF-standin" ''
    /bin/mkdir -p $out/FV
    /bin/cp /usr/share/OVMF/OVMF_CODE_4M.fd $out/FV/OVMF_CODE.fd
    /bin/cp /usr/share/OVMF/OVMF_VARS_4M.fd $out/FV/OVMF_VARS.fd
  '';
in
{
  inherit config toplevel kernel initrd ovmf;
}
