import { createServer } from 'node:net';

/**
 * A loopback port nothing listens on right now: the OS picks it, it is bound once and released.
 * Tests use it for a service that is down (connections are refused) or for a port to start one on.
 */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
