// CPU time of the processes a benchmark drives: a rate on a shared machine moves with its
// neighbours, the CPU spent per event much less.
import { readFileSync } from 'node:fs';
import { createClient } from 'redis';

/** CPU seconds (user + system) of one process and its descendants' reaped time, from /proc. */
export function cpuOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds Redis has used (INFO cpu: main thread and background threads, user + system). */
export async function redisCpu(url: string): Promise<number> {
  const client = createClient({ url });
  await client.connect();
  try {
    const info = await client.info('cpu');
    const field = (name: string): number =>
      Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return field('used_cpu_sys') + field('used_cpu_user');
  } finally {
    await client.quit();
  }
}
