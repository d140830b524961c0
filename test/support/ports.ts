import { createServer } from 'node:net';

// Below Linux's ephemeral range (32768–60999 by default), which the OS also hands out as the local
// port of outgoing connections: a port picked there and released could be taken by one of the
// suite's own client connections before the service meant for it bound it (seen in a rehearsal:
// a private stack's MariaDB failed with "Address already in use").
const LOW = 20_000;
const HIGH = 32_000;

async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port nothing listens on right now, outside the ephemeral range: bound once and
 * released. Tests use it for a service that is down (connections are refused) or for a port to
 * start one on.
 */
export async function closedPort(): Promise<number> {
  const start = LOW + Math.floor(Math.random() * (HIGH - LOW));
  for (let i = 0; i < HIGH - LOW; i++) {
    const port = LOW + ((start - LOW + i) % (HIGH - LOW));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free loopback port between ${LOW} and ${HIGH}`);
}
