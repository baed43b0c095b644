import { describe, expect, it } from 'vitest';
import { requireTool, runTool, ToolFailedError, ToolMissingError, toolSearchPath } from '../../../src/tools.js';

describe('toolSearchPath', () => {
  it.each([
    ['/usr/bin:/bin', '/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin'],
    [undefined, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    ['/opt/x::/sbin', '/opt/x:/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/bin'],
  ])('%s', (path, expected) => expect(toolSearchPath(path, undefined)).toBe(expected));

  it('is exactly NIXDISK_TOOL_PATH when that is set', () => {
    expect(toolSearchPath('/usr/bin:/bin', '/nix/store/x-e2fsprogs/bin')).toBe('/nix/store/x-e2fsprogs/bin');
  });
});

describe('runTool', () => {
  it('finds tools in /usr/sbin even when PATH lacks it', async () => {
    const { stderr } = await runTool('mke2fs', ['-V'], { env: { PATH: '/usr/bin:/bin' } });
    expect(stderr).toMatch(/^mke2fs 1\.47/);
  });

  it('names the Debian package of a missing tool', async () => {
    await expect(runTool('mkfs.nonexistent-fs', [], { debianPackage: 'nonexistent-tools' })).rejects.toThrow(
      new ToolMissingError('mkfs.nonexistent-fs', 'nonexistent-tools'),
    );
    await expect(requireTool('definitely-not-installed', 'some-package')).rejects.toThrow(
      "'definitely-not-installed' was not found on PATH; install the Debian package 'some-package'",
    );
    await expect(requireTool('mkfs.xfs')).resolves.toBeUndefined();
  });

  it('rejects with the output of a failing tool, and accepts exit codes declared fine', async () => {
    const failure = runTool('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    await expect(failure).rejects.toBeInstanceOf(ToolFailedError);
    await expect(failure).rejects.toThrow('sh exited with status 3:\nerr\nout');
    await expect(runTool('sh', ['-c', 'exit 1'], { okExitCodes: [1] })).resolves.toMatchObject({ exitCode: 1 });
  });

  it('passes arguments verbatim, without a shell', async () => {
    const { stdout } = await runTool('printf', ['%s|', 'a b', '$HOME', '*']);
    expect(stdout).toBe('a b|$HOME|*|');
  });
});
