// Secrets resolved from the environment or files are remembered here so that any text about to be
// logged or shown in an error can be scrubbed of them. Other modules call redact() on messages
// that may carry a URL or a driver error.

const secrets = new Set<string>();

/** Remember a secret value so that redact() hides it. Very short values are ignored (too many false hits). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 3) secrets.add(value);
}

const MASK = '***';

/** Replace known secrets and any `user:password@` URL credentials in `text`. */
export function redact(text: string): string {
  let out = text;
  // Longest first so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join(MASK);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join(MASK);
  }
  return out.replace(
    /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)@/gi,
    (_m, head: string) => `${head}${MASK}@`,
  );
}

/** For tests: forget registered secrets. */
export function clearSecrets(): void {
  secrets.clear();
}
