/**
 * Reading registrations back in the tests: nixdisk itself reads them as
 * `nix path-info --json` gives them (src/nix/closure.ts) and only writes this form.
 */
import { normalizeNarHash, type StorePathInfo } from '../../src/nix/closure.js';

/**
 * Parses the registration text of `nix-store --dump-db` or closureInfo: per path,
 * the path, NAR hash, NAR size, deriver (possibly empty), the number of references,
 * then one reference per line.
 */
export function parseRegistration(text: string): StorePathInfo[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const infos: StorePathInfo[] = [];
  let at = 0;
  const take = (what: string): string => {
    const line = lines[at];
    if (line === undefined) throw new Error(`nixdisk: registration ends early: expected ${what} at line ${at + 1}`);
    at++;
    return line;
  };
  while (at < lines.length) {
    const path = take('a store path');
    if (!path.startsWith('/')) throw new Error(`nixdisk: registration line ${at}: expected a store path, got \`${path}\``);
    const narHash = normalizeNarHash(take(`the NAR hash of ${path}`));
    const narSizeText = take(`the NAR size of ${path}`);
    if (!/^\d+$/.test(narSizeText)) throw new Error(`nixdisk: registration line ${at}: bad NAR size \`${narSizeText}\` for ${path}`);
    const deriver = take(`the deriver of ${path}`);
    const countText = take(`the reference count of ${path}`);
    if (!/^\d+$/.test(countText)) throw new Error(`nixdisk: registration line ${at}: bad reference count \`${countText}\` for ${path}`);
    const references = Array.from({ length: Number(countText) }, () => take(`a reference of ${path}`)).sort();
    infos.push({ path, narHash, narSize: Number(narSizeText), deriver: deriver === '' ? null : deriver, references });
  }
  return infos;
}
