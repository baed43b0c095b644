/**
 * The language server as an editor sees it: `dist/nixdisk.js lsp --stdio` in a child
 * process, spoken to over its real stdin/stdout in JSON-RPC.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LspClient, NIXDISK_BUNDLE, type Message } from '../helpers/lsp-client.js';
import { applyStep, SESSION_START, SESSION_STEPS } from './editing-session.js';

const run = promisify(execFile);

const BROKEN = [
  '{ pkgs, lib, config }:',
  'import <nixpkgs/nixos/lib/make-disk-image.nix> {',
  '  inherit pkgs lib config;',
  '  fomat = "qcow2";',
  '  partitionTableType = "efii";',
  '  bootSize = "1024MB";',
  '  onlyNixStore = true;',
  '  label = "élan-nix-store";',
  '}',
  '',
].join('\n');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-lsp-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Finding {
  code: string;
  message: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
}

/** What `nixdisk check --format json` says about `text`, in LSP's 0-based terms. */
async function checkJson(text: string): Promise<Finding[]> {
  const file = path.join(dir, `check-${Math.random().toString(36).slice(2)}.nix`);
  await writeFile(file, text);
  const { stdout } = await run(process.execPath, [NIXDISK_BUNDLE, 'check', '--format', 'json', file]).catch((e) => e as { stdout: string });
  const records = JSON.parse(stdout) as { line: number; column: number; endLine: number; endColumn: number; code: string; message: string }[];
  return records.map((r) => ({
    code: r.code,
    message: r.message,
    range: { start: { line: r.line - 1, character: r.column - 1 }, end: { line: r.endLine - 1, character: r.endColumn - 1 } },
  }));
}

function findings(published: Message): Finding[] {
  return published.params.diagnostics.map((d: Finding) => ({ code: d.code, message: d.message, range: d.range }));
}

/** The position of the `nth` occurrence of `needle` in `text`, plus `offset` characters. */
function positionOf(text: string, needle: string, offset = 0): { line: number; character: number } {
  const index = text.indexOf(needle);
  expect(index, `${needle} in the text`).toBeGreaterThanOrEqual(0);
  return TextDocument.create('x', 'nix', 0, text).positionAt(index + offset);
}

describe('a session over stdio', () => {
  const client = new LspClient();
  const uri = pathToFileURL('/srv/images/disk.nix').href;
  const document = TextDocument.create(uri, 'nix', 1, BROKEN);
  afterAll(() => client.kill());

  /** Sends an incremental change and applies it to the local copy, as an editor does. */
  function change(edits: { range: Finding['range']; text: string }[]): number {
    const version = document.version + 1;
    TextDocument.update(document, edits, version);
    client.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges: edits });
    return version;
  }

  it('initializes with incremental sync, hover, completion and quick fixes', async () => {
    const { result } = await client.initialize();
    expect(result.capabilities.textDocumentSync).toMatchObject({ openClose: true, change: 2 });
    expect(result.capabilities.hoverProvider).toBe(true);
    expect(result.capabilities.completionProvider).toBeDefined();
    expect(result.capabilities.codeActionProvider).toMatchObject({ codeActionKinds: ['quickfix'] });
    expect(result.serverInfo.name).toBe('nixdisk');
  });

  it('publishes on open what `nixdisk check --format json` reports, at the same ranges', async () => {
    const since = client.received.length;
    client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'nix', version: 1, text: BROKEN } });
    const published = await client.diagnostics(uri, 1, since);
    const got = findings(published);
    expect(got).toEqual(await checkJson(BROKEN));
    expect(got.map((f) => f.code)).toEqual(expect.arrayContaining(['unknown-argument', 'invalid-partition-table-type', 'only-nix-store-conflict']));
    // Ranges in LSP's UTF-16 columns: the label's value starts after `label = `.
    const fomat = got.find((f) => f.code === 'unknown-argument')!;
    expect(fomat.range).toEqual({ start: { line: 3, character: 2 }, end: { line: 3, character: 7 } });
    expect(published.params.diagnostics.every((d: { source: string }) => d.source === 'nixdisk')).toBe(true);
  });

  it('re-publishes after an incremental edit, equal to check on the edited text', async () => {
    const since = client.received.length;
    const version = change([{ range: { start: { line: 3, character: 2 }, end: { line: 3, character: 7 } }, text: 'format' }]);
    const got = findings(await client.diagnostics(uri, version, since));
    expect(document.getText()).toContain('  format = "qcow2";');
    expect(got.map((f) => f.code)).not.toContain('unknown-argument');
    expect(got).toEqual(await checkJson(document.getText()));
  });

  it('publishes once for a burst of edits, for the last version', async () => {
    const since = client.received.length;
    // Five keystrokes in one write: the server sees them before its pause ends.
    const at = positionOf(document.getText(), '"1024MB"', 5);
    const frames: Buffer[] = [];
    let version = document.version;
    for (const key of ['i', 'B', 'x', 'y', 'z']) {
      const range = { start: { ...at, character: at.character + version - 2 }, end: { ...at, character: at.character + version - 2 } };
      version += 1;
      TextDocument.update(document, [{ range, text: key }], version);
      const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'textDocument/didChange', params: { textDocument: { uri, version }, contentChanges: [{ range, text: key }] } }));
      frames.push(Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body);
    }
    client.writeRaw(Buffer.concat(frames));
    const last = await client.diagnostics(uri, version, since);
    expect(document.getText()).toContain('bootSize = "1024iBxyzMB"');
    expect(findings(last)).toEqual(await checkJson(document.getText()));
    const versions = client.received.slice(since).filter((m) => m.method === 'textDocument/publishDiagnostics').map((m) => m.params.version);
    expect(versions).toEqual([version]);
    // Put bootSize back to a valid size for the hovers below.
    const start = positionOf(document.getText(), '"1024iBxyzMB"');
    const restored = change([{ range: { start, end: { ...start, character: start.character + '"1024iBxyzMB"'.length } }, text: '"1G"' }]);
    await client.diagnostics(uri, restored, since);
  });

  it('hovers an argument name with its type, default and documentation', async () => {
    const { result } = await client.request('textDocument/hover', { textDocument: { uri }, position: positionOf(document.getText(), 'bootSize', 3) });
    expect(result.contents.kind).toBe('markdown');
    expect(result.contents.value).toContain('**bootSize**');
    expect(result.contents.value).toContain('Where the boot partition');
    expect(result.contents.value).toMatch(/Default: `"256M"`/);
    expect(result.range).toEqual({ start: positionOf(document.getText(), 'bootSize'), end: positionOf(document.getText(), 'bootSize', 8) });
  });

  it('hovers the partition layout with offsets on layout values and on the call', async () => {
    const text = document.getText();
    const fixTable = change([{ range: { start: positionOf(text, '"efii"'), end: positionOf(text, '"efii"', 6) }, text: '"efi"' }]);
    await client.diagnostics(uri, fixTable);
    const onValue = await client.request('textDocument/hover', { textDocument: { uri }, position: positionOf(document.getText(), '"efi"', 2) });
    // bootSize = "1G": the ESP from 8 MiB (sector 16384) to 1025 MiB; the root partition after it.
    expect(onValue.result.contents.value).toContain('**Layout** `efi`: GPT');
    expect(onValue.result.contents.value).toContain('| 1 | ESP | esp | C12A7328-F81F-11D2-BA4B-00A0C93EC93B | 8388608 (8 MiB) | 16384 | 1066401792 (1017 MiB) |');
    expect(onValue.result.contents.value).toContain('| 2 | primary | root | 0FC63DAF-8483-4772-8E79-3D69D8477DE4 | 1074790400 (1025 MiB) | 2099200 |');
    const onBootSize = await client.request('textDocument/hover', { textDocument: { uri }, position: positionOf(document.getText(), '"1G"', 1) });
    expect(onBootSize.result.contents.value).toBe(onValue.result.contents.value);
    const onCall = await client.request('textDocument/hover', { textDocument: { uri }, position: positionOf(document.getText(), 'import <nixpkgs', 2) });
    expect(onCall.result.contents.value).toBe(onValue.result.contents.value);
    const onOtherValue = await client.request('textDocument/hover', { textDocument: { uri }, position: positionOf(document.getText(), '"qcow2"', 2) });
    expect(onOtherValue.result).toBeNull();
  });

  it('completes the argument names the call does not write yet, with docs', async () => {
    const end = positionOf(document.getText(), '\n}', 1);
    const version = change([{ range: { start: end, end }, text: '  dis\n' }]);
    await client.diagnostics(uri, version);
    const { result } = await client.request('textDocument/completion', { textDocument: { uri }, position: { line: end.line, character: 5 } });
    const labels = result.map((item: { label: string }) => item.label);
    expect(labels).toContain('diskSize');
    expect(labels).toContain('installBootLoader');
    for (const written of ['format', 'partitionTableType', 'bootSize', 'onlyNixStore', 'label', 'pkgs']) expect(labels).not.toContain(written);
    const diskSize = result.find((item: { label: string }) => item.label === 'diskSize');
    expect(diskSize.documentation.value).toContain('"auto"');
    expect(diskSize.textEdit).toEqual({ range: { start: { line: end.line, character: 2 }, end: { line: end.line, character: 5 } }, newText: 'diskSize = ' });
  });

  it.each([
    ['format', 'q', ['raw', 'qcow2', 'qcow2-compressed', 'vdi', 'vpc']],
    ['partitionTableType', 'h', ['none', 'legacy', 'legacy+boot', 'legacy+gpt', 'efi', 'efixbootldr', 'hybrid']],
    ['fsType', 'x', ['ext4', 'btrfs', 'xfs', 'erofs', 'squashfs', 'vfat', 'f2fs']],
  ])('completes the values of %s inside its string', async (name, typed, values) => {
    const text = document.getText();
    const line = positionOf(text, '  dis\n').line;
    const version = change([{ range: { start: { line, character: 0 }, end: { line, character: 5 } }, text: `  ${name} = "${typed}";` }]);
    await client.diagnostics(uri, version);
    const cursor = { line, character: `  ${name} = "${typed}`.length };
    const { result } = await client.request('textDocument/completion', { textDocument: { uri }, position: cursor });
    expect(result.map((item: { label: string }) => item.label)).toEqual(values);
    expect(result[1].textEdit.range).toEqual({ start: { line, character: cursor.character - 1 }, end: cursor });
    // Back to `  dis` for the next case.
    change([{ range: { start: { line, character: 0 }, end: { line, character: `  ${name} = "${typed}";`.length } }, text: '  dis' }]);
  });

  it('offers the rules fixes as quick fixes: did-you-mean, enum typos, installBootLoader = false', async () => {
    const text = [
      '{ pkgs, lib, config }:',
      'import <nixpkgs/nixos/lib/make-disk-image.nix> {',
      '  inherit pkgs lib config;',
      '  fomat = "qcow2";',
      '  partitionTableType = "efii";',
      '  fsType = "ext5";',
      '  onlyNixStore = true;',
      '}',
    ].join('\n');
    const fixUri = pathToFileURL('/srv/images/fixes.nix').href;
    client.notify('textDocument/didOpen', { textDocument: { uri: fixUri, languageId: 'nix', version: 1, text } });
    await client.diagnostics(fixUri, 1);
    const { result } = await client.request('textDocument/codeAction', {
      textDocument: { uri: fixUri },
      range: { start: { line: 0, character: 0 }, end: { line: 8, character: 0 } },
      context: { diagnostics: [] },
    });
    const byTitle = Object.fromEntries(result.map((action: { title: string }) => [action.title, action]));
    expect(Object.keys(byTitle).sort()).toEqual(['Rename to format', 'Set installBootLoader = false', 'Use "efi"', 'Use "ext4"']);
    expect(byTitle['Rename to format'].kind).toBe('quickfix');
    expect(byTitle['Rename to format'].diagnostics[0].code).toBe('unknown-argument');
    // Applying every edit gives a call `check` has nothing against.
    const fixed = TextDocument.applyEdits(
      TextDocument.create(fixUri, 'nix', 1, text),
      result.flatMap((action: { edit: { changes: Record<string, never[]> } }) => action.edit.changes[fixUri]),
    );
    expect(fixed).toContain('  format = "qcow2";');
    expect(fixed).toContain('installBootLoader = false; }');
    expect(await checkJson(fixed)).toEqual([]);
    // Only the fixes for what the range covers.
    const one = await client.request('textDocument/codeAction', {
      textDocument: { uri: fixUri },
      range: { start: { line: 5, character: 13 }, end: { line: 5, character: 13 } },
      context: { diagnostics: [] },
    });
    expect(one.result.map((action: { title: string }) => action.title)).toEqual(['Use "ext4"']);
  });

  it('clears the diagnostics of a closed document', async () => {
    const since = client.received.length;
    client.notify('textDocument/didClose', { textDocument: { uri } });
    const cleared = await client.diagnostics(uri, undefined, since);
    expect(cleared.params.diagnostics).toEqual([]);
    const hover = await client.request('textDocument/hover', { textDocument: { uri }, position: { line: 3, character: 3 } });
    expect(hover.result).toBeNull();
  });

  it('shuts down and exits with status 0', async () => {
    expect(await client.shutdown()).toBe(0);
  });
});

describe('an editing session over stdio', () => {
  const client = new LspClient();
  afterAll(() => client.kill());

  it('publishes after every incremental change what check says about the text at that point', async () => {
    await client.initialize();
    const uri = pathToFileURL(path.join(dir, 'session.nix')).href;
    const document = TextDocument.create(uri, 'nix', 1, SESSION_START);
    client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'nix', version: 1, text: SESSION_START } });
    expect(findings(await client.diagnostics(uri, 1, 0))).toEqual(await checkJson(SESSION_START));
    for (const [step, replacements] of SESSION_STEPS) {
      const since = client.received.length;
      const contentChanges = applyStep(document, replacements);
      const version = document.version + 1;
      TextDocument.update(document, [], version);
      client.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges });
      expect(findings(await client.diagnostics(uri, version, since)), step).toEqual(await checkJson(document.getText()));
    }
    expect(await client.shutdown()).toBe(0);
  });
});

describe('robustness', () => {
  const client = new LspClient();
  afterAll(() => client.kill());

  const alive = async () => {
    const { result } = await client.request('textDocument/hover', { textDocument: { uri: 'file:///nowhere.nix' }, position: { line: 0, character: 0 } });
    expect(result).toBeNull();
    expect(client.process.exitCode).toBeNull();
  };

  it('survives malformed JSON-RPC and answers unknown methods with an error', async () => {
    await client.initialize();
    const since = client.received.length;
    client.writeRaw('Content-Length: 9\r\n\r\n{"id": 1,');
    client.writeRaw('Content-Length: 7\r\n\r\n[1,2,3]');
    client.send({ id: 'x', method: 'textDocument/hover', params: { nonsense: true } });
    client.send({ method: 'textDocument/didOpen', params: { textDocument: 42 } });
    client.send({ method: 'textDocument/didChange', params: { textDocument: { uri: 'file:///never-opened.nix', version: 2 }, contentChanges: [{ text: 'x' }] } });
    const unknown = await client.request('nixdisk/noSuchMethod', {});
    expect(unknown.error?.code).toBe(-32601);
    client.notify('nixdisk/noSuchNotification', { a: 1 });
    await alive();
    // A request whose parameters make no sense gets an error response, not silence.
    const bad = await client.waitFor((m) => m.id === 'x', 30_000, 'the answer to a nonsense request', since);
    expect(bad.error?.code).toBe(-32603);
  });

  it.each([
    ['binary junk', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1')],
    ['HTML', '<html><body><p>make-disk-image.nix {{{ ; ; = "</p></body></html>'],
    ['half a call', 'import <nixpkgs/nixos/lib/make-disk-image.nix> { format = "'],
    ['an empty file', ''],
  ])('answers for a document that is not Nix: %s', async (_, text) => {
    const uri = `file:///junk/${Math.random().toString(36).slice(2)}.nix`;
    client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'nix', version: 1, text } });
    await client.diagnostics(uri, 1);
    for (const position of [{ line: 0, character: 0 }, { line: 0, character: 30 }, { line: 99, character: 99 }]) {
      const hover = await client.request('textDocument/hover', { textDocument: { uri }, position });
      expect(hover.error).toBeUndefined();
      const completion = await client.request('textDocument/completion', { textDocument: { uri }, position });
      expect(completion.error).toBeUndefined();
    }
    await alive();
  });

  it('stays responsive with a 5 MB document: says once that it is not checked, publishes nothing', async () => {
    const head = 'import <nixpkgs/nixos/lib/make-disk-image.nix> {\n  pkgs = { }; lib = { }; config = { };\n  fomat = "raw";\n';
    const bindings: string[] = [];
    for (let size = head.length; size < 5 * 1024 * 1024; ) {
      const line = `  extra${bindings.length} = { value = "${bindings.length}"; list = [ 1 2 3 ]; };\n`;
      bindings.push(line);
      size += line.length;
    }
    const text = head + bindings.join('') + '}\n';
    expect(text.length).toBeGreaterThan(5 * 1024 * 1024);
    const uri = 'file:///big/five-megabytes.nix';
    const since = client.received.length;
    const opened = Date.now();
    client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'nix', version: 1, text } });
    const published = await client.diagnostics(uri, 1, since);
    expect(published.params.diagnostics).toEqual([]);
    expect(Date.now() - opened).toBeLessThan(10_000);
    const told = await client.waitFor((m) => m.method === 'window/logMessage' && m.params.message.includes(uri), 5_000, 'the too-large message', since);
    expect(told.params.message).toContain('nixdisk check');
    // An edit that keeps it large: answered, and not said again.
    client.notify('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ range: { start: { line: 2, character: 2 }, end: { line: 2, character: 7 } }, text: 'format' }] });
    await client.diagnostics(uri, 2, since);
    const hover = await client.request('textDocument/hover', { textDocument: { uri }, position: { line: 2, character: 3 } });
    expect(hover.error).toBeUndefined();
    expect(client.received.slice(since).filter((m) => m.method === 'window/logMessage' && m.params.message.includes(uri))).toHaveLength(1);
    await alive();
    client.notify('textDocument/didClose', { textDocument: { uri } });
  });

  it('still shuts down cleanly', async () => {
    expect(await client.shutdown()).toBe(0);
  });
});
