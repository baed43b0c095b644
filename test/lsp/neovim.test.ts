/**
 * A real editor: Debian's neovim (0.7), headless, attaches `nixdisk lsp --stdio` to a .nix
 * buffer with its built-in client and writes down the diagnostics it received.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NIXDISK_BUNDLE } from '../helpers/lsp-client.js';

const run = promisify(execFile);

// The 0.7 API (vim.lsp.start_client / buf_attach_client): what Debian 12 ships.
const INIT_LUA = `
local out = os.getenv('NIXDISK_NVIM_OUT')
vim.api.nvim_create_autocmd('VimEnter', { callback = function()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = vim.lsp.start_client({
    name = 'nixdisk',
    cmd = { os.getenv('NIXDISK_NODE'), os.getenv('NIXDISK_BUNDLE'), 'lsp', '--stdio' },
    root_dir = vim.fn.getcwd(),
  })
  vim.lsp.buf_attach_client(bufnr, client)
  vim.wait(30000, function() return #vim.diagnostic.get(bufnr) > 0 end, 50)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(found, { lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      severity = d.severity, message = d.message, source = d.source, code = d.code })
  end
  local hover = vim.lsp.buf_request_sync(bufnr, 'textDocument/hover',
    { textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = 3, character = 4 } }, 10000)
  local hover_text = ''
  for _, response in pairs(hover or {}) do
    if response.result then hover_text = response.result.contents.value end
  end
  local file = io.open(out, 'w')
  file:write(vim.fn.json_encode({ diagnostics = found, hover = hover_text }))
  file:close()
  vim.lsp.stop_client(client)
  vim.cmd('qall!')
end })
`;

const FILE = [
  '{ pkgs, lib, config }:',
  'import <nixpkgs/nixos/lib/make-disk-image.nix> {',
  '  inherit pkgs lib config;',
  '  bootSize = "256M";',
  '  partitionTableType = "efii";',
  '  fomat = "qcow2";',
  '}',
  '',
].join('\n');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-nvim-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('neovim receives the diagnostics and hover of nixdisk lsp', async () => {
  await writeFile(path.join(dir, 'init.lua'), INIT_LUA);
  await writeFile(path.join(dir, 'image.nix'), FILE);
  const out = path.join(dir, 'received.json');
  await run('nvim', ['--headless', '-i', 'NONE', '-n', '-u', path.join(dir, 'init.lua'), path.join(dir, 'image.nix')], {
    cwd: dir,
    timeout: 90_000,
    // Its log, state and cache stay inside the test's folder.
    env: { ...process.env, NIXDISK_NVIM_OUT: out, NIXDISK_NODE: process.execPath, NIXDISK_BUNDLE, XDG_CACHE_HOME: dir, XDG_STATE_HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  const received = JSON.parse(await readFile(out, 'utf8')) as {
    diagnostics: { lnum: number; col: number; end_lnum: number; end_col: number; severity: number; message: string; source: string; code: string }[];
    hover: string;
  };
  const byCode = Object.fromEntries(received.diagnostics.map((d) => [d.code, d]));
  expect(Object.keys(byCode).sort()).toEqual(['invalid-partition-table-type', 'unknown-argument']);
  expect(byCode['unknown-argument']).toMatchObject({ lnum: 5, col: 2, end_lnum: 5, end_col: 7, severity: 1, source: 'nixdisk' });
  expect(byCode['unknown-argument']!.message).toContain('did you mean format?');
  expect(byCode['invalid-partition-table-type']).toMatchObject({ lnum: 4, col: 23, end_lnum: 4, end_col: 29 });
  expect(received.hover).toContain('**bootSize**');
});
