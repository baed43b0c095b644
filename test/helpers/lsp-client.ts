/**
 * A minimal LSP client over a real child process's stdio: Content-Length framing and
 * JSON-RPC by hand, so the tests see exactly the bytes an editor would.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package.js';

export const NIXDISK_BUNDLE = path.join(PACKAGE_ROOT, 'dist', 'nixdisk.js');

export interface Message {
  jsonrpc: '2.0';
  id?: number | string | null;
  method?: string;
  params?: any;
  result?: any;
  error?: { code: number; message: string };
}

export class LspClient {
  readonly process: ChildProcessWithoutNullStreams;
  readonly received: Message[] = [];
  stderr = '';
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private waiters: { predicate: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[] = ['lsp', '--stdio']) {
    this.process = spawn(process.execPath, [NIXDISK_BUNDLE, ...args], { stdio: 'pipe' });
    this.process.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.process.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.process.on('exit', (code) => resolve(code)));
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd === -1) return;
      const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString())?.[1]);
      if (this.buffer.length < headerEnd + 4 + length) return;
      const body = this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(headerEnd + 4 + length);
      const message = JSON.parse(body) as Message;
      this.received.push(message);
      this.waiters = this.waiters.filter((w) => (w.predicate(message) ? (w.resolve(message), false) : true));
    }
  }

  /** Writes raw bytes, framing included: for malformed-input tests. */
  writeRaw(bytes: string | Buffer): void {
    this.process.stdin.write(bytes);
  }

  send(message: object): void {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
    this.writeRaw(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
  }

  notify(method: string, params: unknown): void {
    this.send({ method, params });
  }

  async request(method: string, params: unknown, timeoutMs = 30_000): Promise<Message> {
    const id = this.nextId++;
    const response = this.waitFor((m) => m.id === id && m.method === undefined, timeoutMs, `response to ${method}`);
    this.send({ id, method, params });
    return response;
  }

  /** The first message, already received or still to come, after `since` that matches. */
  waitFor(predicate: (m: Message) => boolean, timeoutMs = 30_000, what = 'a message', since = this.received.length): Promise<Message> {
    const seen = this.received.slice(since).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({ predicate, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  /** The next publishDiagnostics for `uri` (of `version`, when given). */
  diagnostics(uri: string, version?: number, since = this.received.length): Promise<Message> {
    return this.waitFor(
      (m) => m.method === 'textDocument/publishDiagnostics' && m.params.uri === uri && (version === undefined || m.params.version === version),
      30_000,
      `diagnostics of ${uri}`,
      since,
    );
  }

  async initialize(): Promise<Message> {
    const response = await this.request('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    this.notify('initialized', {});
    return response;
  }

  /** shutdown, exit, and the exit code. */
  async shutdown(): Promise<number | null> {
    await this.request('shutdown', null);
    this.notify('exit', null);
    return this.exited;
  }

  kill(): void {
    if (this.process.exitCode === null) this.process.kill();
  }
}
