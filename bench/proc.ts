/** Measuring and stopping a bench server process by pid (/proc; Linux): shared by the bench suites. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** SIGTERM, then SIGKILL after 15 s; resolves when the process has exited. */
export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** CPU time used so far, in clock ticks: utime + stime (fields 14, 15 of /proc/<pid>/stat). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** Resident set size now and its high-water mark, in KiB. */
export function memKb(pid: number): { rssKb: number; hwmKb: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? Number.NaN);
  return { rssKb: get('VmRSS'), hwmKb: get('VmHWM') };
}
