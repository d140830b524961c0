// Secrets live apart from URLs in the configuration (decision 0022); a client that takes one
// connection string gets them joined only at the moment it connects, never for printing.
import { redact } from './redact.ts';

/** The URL with the resolved password filled in (unchanged when there is none). */
export function urlWithPassword(url: string, password: string | undefined): string {
  if (!password) return url;
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** `host:port` of a URL for messages (the default port when it has none); redacted if unparsable. */
export function hostOf(url: string, defaultPort?: string): string {
  try {
    const u = new URL(url);
    const port = u.port || defaultPort;
    return `${u.hostname}${port ? `:${port}` : ''}`;
  } catch {
    return redact(url);
  }
}
