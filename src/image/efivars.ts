/**
 * An editor for OVMF's variable store file (`OVMF_VARS.fd`): a firmware volume whose
 * header is followed by an authenticated variable store. It adds the UEFI boot entries
 * a real install writes through efivarfs (FACTS §8): a `Boot####` load option whose
 * device path names the ESP by GPT partition GUID plus the loader's file path, and
 * `BootOrder` with the new entries first. Deterministic: no timestamps, the lowest free
 * entry numbers. The layout follows the UEFI and PI specifications (EFI_FIRMWARE_VOLUME_HEADER,
 * VARIABLE_STORE_HEADER, AUTHENTICATED_VARIABLE_HEADER, EFI_LOAD_OPTION, device path nodes).
 */
import type { EfiBootEntry, ImageMount } from './boot/bootloader.js';
import type { PartitionPlan, TablePlan } from './plan.js';
import { guidFromBytes, guidToBytes } from './table/guid.js';

export const EFI_GLOBAL_VARIABLE = '8BE4DF61-93CA-11D2-AA0D-00E098032B8C';
const AUTHENTICATED_STORE = 'AAF32C78-947B-439A-A180-2E144EC37792';
const PLAIN_STORE = 'DDCF3616-3275-4164-98B6-FE85707FFE7D';
const FV_SIGNATURE = 0x4856465f; // "_FVH"
const STORE_FORMATTED = 0x5a;
const STORE_HEALTHY = 0xfe;
const VARIABLE_START = 0x55aa;
const VAR_ADDED = 0x3f;
const VAR_DELETED_MASK = 0xfd;
const AUTH_HEADER_SIZE = 60;
const PLAIN_HEADER_SIZE = 32;
/** Non-volatile, boot-service and runtime access: what efibootmgr and bootctl give boot entries. */
export const NV_BS_RT = 0x7;
const LOAD_OPTION_ACTIVE = 0x1;

export class EfiVarsError extends Error {
  override name = 'EfiVarsError';
}

export interface EfiVariable {
  name: string;
  vendorGuid: string;
  attributes: number;
  data: Buffer;
  /** Byte offset of the variable's header in the file. */
  offset: number;
  state: number;
}

interface StoreLayout {
  /** First byte of the first variable. */
  start: number;
  /** One past the store's last byte. */
  end: number;
  authenticated: boolean;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Where the variable store lies in a firmware-volume file; throws when the file is not one. */
function storeLayout(file: Buffer): StoreLayout {
  if (file.length < 0x48 || file.readUInt32LE(0x28) !== FV_SIGNATURE) throw new EfiVarsError('not an OVMF variable store: no firmware volume header ("_FVH")');
  const headerLength = file.readUInt16LE(0x30);
  const guid = guidFromBytes(file.subarray(headerLength, headerLength + 16));
  if (guid !== AUTHENTICATED_STORE && guid !== PLAIN_STORE) throw new EfiVarsError(`not an OVMF variable store: unknown store GUID ${guid}`);
  const size = file.readUInt32LE(headerLength + 16);
  if (file[headerLength + 20] !== STORE_FORMATTED || file[headerLength + 21] !== STORE_HEALTHY) throw new EfiVarsError('the variable store is not formatted and healthy');
  return { start: align4(headerLength + 28), end: headerLength + size, authenticated: guid === AUTHENTICATED_STORE };
}

/** Every variable record in the store, deleted ones included, and where free space begins; pure. */
export function readVariables(file: Buffer): { variables: EfiVariable[]; freeOffset: number } {
  const layout = storeLayout(file);
  const headerSize = layout.authenticated ? AUTH_HEADER_SIZE : PLAIN_HEADER_SIZE;
  const variables: EfiVariable[] = [];
  let at = layout.start;
  while (at + headerSize <= layout.end && file.readUInt16LE(at) === VARIABLE_START) {
    const state = file[at + 2]!;
    const attributes = file.readUInt32LE(at + 4);
    const sizes = layout.authenticated ? at + 36 : at + 8;
    const nameSize = file.readUInt32LE(sizes);
    const dataSize = file.readUInt32LE(sizes + 4);
    const vendorGuid = guidFromBytes(file.subarray(sizes + 8, sizes + 24));
    const nameAt = at + headerSize;
    // The data follows the name directly; only whole records are 4-byte aligned.
    const dataAt = nameAt + nameSize;
    const name = file.subarray(nameAt, nameAt + nameSize).toString('utf16le').replace(/\0+$/, '');
    variables.push({ name, vendorGuid, attributes, data: Buffer.from(file.subarray(dataAt, dataAt + dataSize)), offset: at, state });
    at = align4(dataAt + dataSize);
  }
  return { variables, freeOffset: at };
}

/** The live (added, not deleted) variables; pure. */
export function liveVariables(file: Buffer): EfiVariable[] {
  return readVariables(file).variables.filter((v) => v.state === VAR_ADDED);
}

function utf16z(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf16le');
}

function variableRecord(authenticated: boolean, name: string, vendorGuid: string, attributes: number, data: Buffer): Buffer {
  const headerSize = authenticated ? AUTH_HEADER_SIZE : PLAIN_HEADER_SIZE;
  const nameBytes = utf16z(name);
  const record = Buffer.alloc(align4(headerSize + nameBytes.length + data.length), 0xff);
  record.fill(0, 0, headerSize);
  record.writeUInt16LE(VARIABLE_START, 0);
  record[2] = VAR_ADDED;
  record.writeUInt32LE(attributes, 4);
  // Authenticated records carry a monotonic count, a timestamp and a key index, all zero here.
  const sizes = authenticated ? 36 : 8;
  record.writeUInt32LE(nameBytes.length, sizes);
  record.writeUInt32LE(data.length, sizes + 4);
  guidToBytes(vendorGuid).copy(record, sizes + 8);
  nameBytes.copy(record, headerSize);
  data.copy(record, headerSize + nameBytes.length);
  return record;
}

/** A copy of `file` with the variables set: a live one of the same name is marked deleted, the new record appended; pure. */
export function setVariables(file: Buffer, updates: readonly { name: string; vendorGuid: string; attributes: number; data: Buffer }[]): Buffer {
  const out = Buffer.from(file);
  const layout = storeLayout(out);
  let { variables, freeOffset } = readVariables(out);
  for (const update of updates) {
    for (const old of variables) {
      if (old.state === VAR_ADDED && old.name === update.name && old.vendorGuid === update.vendorGuid) out[old.offset + 2] = VAR_ADDED & VAR_DELETED_MASK;
    }
    const record = variableRecord(layout.authenticated, update.name, update.vendorGuid, update.attributes, update.data);
    if (freeOffset + record.length > layout.end) throw new EfiVarsError(`the variable store is full: no room for ${update.name}`);
    record.copy(out, freeOffset);
    freeOffset += record.length;
    variables = readVariables(out).variables;
  }
  return out;
}

/** The ESP as a UEFI hard-drive device path node needs it. */
export type EspPartition = Pick<PartitionPlan, 'number' | 'firstSector' | 'lastSector' | 'uniqueGuid'>;

/** HD(number, GPT, guid, start, size)/\path\to\loader.efi/End; pure. */
export function espFileDevicePath(esp: EspPartition, loaderPath: string): Buffer {
  if (!esp.uniqueGuid) throw new EfiVarsError(`partition ${esp.number} has no GPT partition GUID: a UEFI boot entry names the ESP by it`);
  const hd = Buffer.alloc(42);
  hd[0] = 0x04; // media device path
  hd[1] = 0x01; // hard drive
  hd.writeUInt16LE(42, 2);
  hd.writeUInt32LE(esp.number, 4);
  hd.writeBigUInt64LE(BigInt(esp.firstSector), 8);
  hd.writeBigUInt64LE(BigInt(esp.lastSector - esp.firstSector + 1), 16);
  guidToBytes(esp.uniqueGuid).copy(hd, 24);
  hd[40] = 0x02; // GPT
  hd[41] = 0x02; // GUID signature
  const pathName = utf16z(loaderPath);
  const file = Buffer.alloc(4);
  file[0] = 0x04; // media device path
  file[1] = 0x04; // file path
  file.writeUInt16LE(4 + pathName.length, 2);
  const end = Buffer.from([0x7f, 0xff, 0x04, 0x00]);
  return Buffer.concat([hd, file, pathName, end]);
}

/** An active EFI_LOAD_OPTION without optional data; pure. */
export function loadOption(description: string, devicePath: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32LE(LOAD_OPTION_ACTIVE, 0);
  head.writeUInt16LE(devicePath.length, 4);
  return Buffer.concat([head, utf16z(description), devicePath]);
}

export interface BootEntryToAdd {
  description: string;
  esp: EspPartition;
  loaderPath: string;
}

/**
 * `file` with a `Boot####` for each entry (lowest numbers not in use) and those entries
 * first in `BootOrder`, ahead of any order already there; pure.
 */
export function addBootEntries(file: Buffer, entries: readonly BootEntryToAdd[]): Buffer {
  if (entries.length === 0) return Buffer.from(file);
  const live = liveVariables(file).filter((v) => v.vendorGuid === EFI_GLOBAL_VARIABLE);
  const used = new Set(live.filter((v) => /^Boot[0-9A-F]{4}$/.test(v.name)).map((v) => parseInt(v.name.slice(4), 16)));
  const numbers: number[] = [];
  for (let n = 0; numbers.length < entries.length; n++) {
    if (n > 0xffff) throw new EfiVarsError('no free Boot#### number');
    if (!used.has(n)) numbers.push(n);
  }
  const oldOrder = live.find((v) => v.name === 'BootOrder')?.data ?? Buffer.alloc(0);
  const order = Buffer.alloc(numbers.length * 2);
  numbers.forEach((n, i) => order.writeUInt16LE(n, i * 2));
  const kept: number[] = [];
  for (let i = 0; i + 1 < oldOrder.length; i += 2) if (!numbers.includes(oldOrder.readUInt16LE(i))) kept.push(oldOrder.readUInt16LE(i));
  const keptBytes = Buffer.alloc(kept.length * 2);
  kept.forEach((n, i) => keptBytes.writeUInt16LE(n, i * 2));
  return setVariables(file, [
    ...entries.map((entry, i) => ({
      name: `Boot${numbers[i]!.toString(16).toUpperCase().padStart(4, '0')}`,
      vendorGuid: EFI_GLOBAL_VARIABLE,
      attributes: NV_BS_RT,
      data: loadOption(entry.description, espFileDevicePath(entry.esp, entry.loaderPath)),
    })),
    { name: 'BootOrder', vendorGuid: EFI_GLOBAL_VARIABLE, attributes: NV_BS_RT, data: Buffer.concat([order, keptBytes]) },
  ]);
}

/** The seam's boot entries placed on the planned partitions: each entry's ESP is the partition of its mount's role; pure. */
export function bootEntriesOnPartitions(
  entries: readonly EfiBootEntry[],
  mounts: readonly ImageMount[],
  table: Pick<TablePlan, 'partitions'>,
): BootEntryToAdd[] {
  return entries.map((entry) => {
    const mount = mounts.find((m) => m.mountPoint === entry.espMountPoint);
    const esp = mount && table.partitions.find((p) => p.role === mount.role);
    if (!esp) throw new EfiVarsError(`the boot entry "${entry.description}" names ${entry.espMountPoint}, which is no partition of this image`);
    return { description: entry.description, esp, loaderPath: entry.loaderPath };
  });
}
