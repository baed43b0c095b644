/**
 * Values in the XML that Nix's `builtins.toXML` prints (`<expr><attrs><attr name="…">
 * <string value="…"/>…`), which is how NixOS hands GRUB's settings to install-grub.pl
 * (FACTS §7.5). Only what toXML emits is read; pure.
 */
export type NixXmlValue = string | number | boolean | null | NixXmlValue[] | { [name: string]: NixXmlValue } | { $derivation: Record<string, NixXmlValue> };

export class NixXmlError extends Error {
  override name = 'NixXmlError';
}

interface Tag {
  name: string;
  attributes: Record<string, string>;
  kind: 'open' | 'close' | 'empty';
}

const ENTITIES: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" };

function unescape(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return ENTITIES[entity] ?? whole;
  });
}

function tokenize(xml: string): Tag[] {
  const tags: Tag[] = [];
  const tagPattern = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w.-]+\s*=\s*"[^"]*")*)\s*(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->/g;
  let last = 0;
  for (let match = tagPattern.exec(xml); match; match = tagPattern.exec(xml)) {
    if (xml.slice(last, match.index).trim() !== '') throw new NixXmlError(`unexpected text before offset ${match.index}`);
    last = tagPattern.lastIndex;
    if (match[2] === undefined) continue;
    const attributes: Record<string, string> = {};
    for (const a of match[3]!.matchAll(/([\w.-]+)\s*=\s*"([^"]*)"/g)) attributes[a[1]!] = unescape(a[2]!);
    tags.push({ name: match[2], attributes, kind: match[1] ? 'close' : match[4] ? 'empty' : 'open' });
  }
  if (xml.slice(last).trim() !== '') throw new NixXmlError('unexpected text at the end');
  return tags;
}

/** The value inside `<expr>…</expr>`. */
export function parseNixXml(xml: string): NixXmlValue {
  const tags = tokenize(xml);
  let at = 0;
  const next = (): Tag => {
    const tag = tags[at++];
    if (!tag) throw new NixXmlError('the document ends too early');
    return tag;
  };
  const close = (name: string): void => {
    const tag = next();
    if (tag.kind !== 'close' || tag.name !== name) throw new NixXmlError(`expected </${name}>, found <${tag.kind === 'close' ? '/' : ''}${tag.name}>`);
  };
  const children = (name: string): NixXmlValue[] => {
    const values: NixXmlValue[] = [];
    while (tags[at] && !(tags[at]!.kind === 'close' && tags[at]!.name === name)) values.push(value());
    close(name);
    return values;
  };
  const attrs = (closing: string): Record<string, NixXmlValue> => {
    const result: Record<string, NixXmlValue> = {};
    while (tags[at] && !(tags[at]!.kind === 'close' && tags[at]!.name === closing)) {
      const attr = next();
      if (attr.name !== 'attr' || attr.kind !== 'open') throw new NixXmlError(`expected <attr>, found <${attr.name}>`);
      result[attr.attributes['name'] ?? ''] = value();
      close('attr');
    }
    close(closing);
    return result;
  };
  const value = (): NixXmlValue => {
    const tag = next();
    const v = tag.attributes['value'];
    switch (tag.name) {
      case 'string':
      case 'path':
      case 'uri':
        if (tag.kind === 'open') close(tag.name);
        return v ?? '';
      case 'int':
      case 'float':
        return Number(v);
      case 'bool':
        return v === 'true';
      case 'null':
        return null;
      case 'list':
        return tag.kind === 'empty' ? [] : children('list');
      case 'attrs':
        return tag.kind === 'empty' ? {} : attrs('attrs');
      case 'derivation':
        return { $derivation: tag.kind === 'empty' ? {} : attrs('derivation') };
      case 'function':
      case 'unevaluated':
      case 'repeated':
        if (tag.kind === 'open') children(tag.name);
        return null;
      default:
        throw new NixXmlError(`unknown element <${tag.name}>`);
    }
  };
  const root = next();
  if (root.name !== 'expr' || root.kind !== 'open') throw new NixXmlError('the document is not an <expr>');
  const result = value();
  close('expr');
  return result;
}
