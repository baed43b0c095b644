/**
 * The toplevel's `boot.json` (FACTS §7.1): kernel, initrd, init and kernel parameters
 * of a NixOS generation, as its boot loader installers read them. Both the namespaced
 * form of current nixpkgs (`org.nixos.bootspec.v1`) and the 2022 `v1` key are read.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Bootspec {
  system: string;
  kernel: string;
  kernelParams: string[];
  /** Absent when the configuration has no initrd. */
  initrd?: string;
  initrdSecrets?: string;
  label: string;
  toplevel: string;
  init: string;
  /** `org.nixos.systemd-boot.sortKey`, when the document carries it. */
  sortKey?: string;
  /** `org.nixos.systemd-boot.devicetree`: the DTB systemd-boot hands the kernel, when installDeviceTree. */
  devicetree?: string;
  /** `org.nixos.specialisation.v1`: each specialisation's own document, by name (none of their own: NixOS nests no deeper). */
  specialisations: Record<string, Bootspec>;
}

export class BootspecError extends Error {
  override name = 'BootspecError';
}

/** The bootspec of `toplevel`, from the JSON text of its boot.json; pure. */
export function parseBootspec(text: string, where: string): Bootspec {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new BootspecError(`${where} is not JSON: ${(error as Error).message}`);
  }
  return parseBootspecDocument(document, where);
}

function parseBootspecDocument(document: unknown, where: string): Bootspec {
  if (!isObject(document)) throw new BootspecError(`${where} is not a JSON object`);
  const v1 = document['org.nixos.bootspec.v1'] ?? document['v1'];
  if (!isObject(v1)) throw new BootspecError(`${where} has no "org.nixos.bootspec.v1" document`);
  const field = (name: string): string => {
    const value = v1[name];
    if (typeof value !== 'string' || value === '') throw new BootspecError(`${where}: "${name}" must be a non-empty string, got ${JSON.stringify(value)}`);
    return value;
  };
  const optional = (name: string): string | undefined => (v1[name] === undefined || v1[name] === null ? undefined : field(name));
  const params = v1['kernelParams'];
  if (!Array.isArray(params) || !params.every((p) => typeof p === 'string')) {
    throw new BootspecError(`${where}: "kernelParams" must be a list of strings`);
  }
  const extension = document['org.nixos.systemd-boot'];
  const extensionText = (name: string): string | undefined =>
    isObject(extension) && typeof extension[name] === 'string' && extension[name] !== '' ? (extension[name] as string) : undefined;
  const sortKey = extensionText('sortKey');
  const devicetree = extensionText('devicetree');
  const nested = document['org.nixos.specialisation.v1'] ?? {};
  if (!isObject(nested)) throw new BootspecError(`${where}: "org.nixos.specialisation.v1" must be an object of specialisation name to document`);
  const specialisations: Record<string, Bootspec> = {};
  for (const [name, child] of Object.entries(nested)) {
    if (!/^[^/\s]+$/.test(name) || name === '.' || name === '..') throw new BootspecError(`${where}: specialisation name ${JSON.stringify(name)} cannot name a boot entry file`);
    specialisations[name] = parseBootspecDocument(child, `${where} (specialisation "${name}")`);
  }
  const spec: Bootspec = {
    system: field('system'),
    kernel: field('kernel'),
    kernelParams: params as string[],
    label: field('label'),
    toplevel: field('toplevel'),
    init: field('init'),
    specialisations,
  };
  const initrd = optional('initrd');
  const initrdSecrets = optional('initrdSecrets');
  return {
    ...spec,
    ...(initrd ? { initrd } : {}),
    ...(initrdSecrets ? { initrdSecrets } : {}),
    ...(sortKey ? { sortKey } : {}),
    ...(devicetree ? { devicetree } : {}),
  };
}

/** Reads `<toplevel>/boot.json`; a toplevel without one (NixOS before 22.11, or not a NixOS system) is a clear error. */
export async function readBootspec(toplevel: string): Promise<Bootspec> {
  const file = path.join(toplevel, 'boot.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BootspecError(
        `${toplevel} has no boot.json: nixdisk reads the kernel, initrd, init and kernel parameters from the toplevel's bootspec (NixOS 22.11 and later); set installBootLoader = false to build without a boot loader`,
      );
    }
    throw new BootspecError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseBootspec(text, file);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
