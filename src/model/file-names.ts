// Names from the source (database names may hold '/', '..', spaces, '%', CJK) become parts of
// file names in the state folder and of Spark checkpoint paths: encoded so they can neither leave
// the folder nor exceed the 255-byte limit of a file name. '%' is avoided as the escape because
// Hadoop reads checkpoint paths as URIs.
import { createHash } from 'node:crypto';

const MAX = 150;

/** A file-name-safe form of `name`: itself when it is plain, else `~XX`-escaped (and shortened). */
export function fileSafeName(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out +=
      /[A-Za-z0-9_-]/.test(ch) || (ch === '.' && out !== '') ? ch : `~${byte.toString(16).padStart(2, '0')}`;
  }
  if (out.length <= MAX) return out;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 16);
  return `${out.slice(0, MAX - 18).replace(/~[0-9a-f]?$/, '')}-h${hash}`;
}
