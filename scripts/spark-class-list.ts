// Refreshes jvm/spark-job/cds/classes.txt, the classes the local Spark job's class archive holds
// (decision 0105), from a JVM's own list of what it loaded. Run after a dependency change:
//
//   SYNCLINE_SPARK_JAVA_OPTIONS=-XX:DumpLoadedClassList=/tmp/job-classes.lst npm run demo -- --seconds 20
//   npx tsx scripts/spark-class-list.ts /tmp/job-classes.lst
//
// A stale list is never wrong, only slower: classes it misses are loaded from their jars as before.
import { readFileSync, writeFileSync } from 'node:fs';
import { CLASS_LIST } from '../src/spark/class-archive.ts';

const from = process.argv[2];
if (!from) {
  console.error('usage: npx tsx scripts/spark-class-list.ts <file written by -XX:DumpLoadedClassList>');
  process.exit(2);
}
// Lines are `name` or `name id: N …`; lines starting with @ (lambda forms) and # are the JVM's
// own bookkeeping, which a static dump does not need.
const names = new Set<string>();
for (const line of readFileSync(from, 'utf8').split('\n')) {
  const name = line.split(' ')[0]!;
  if (name && !name.startsWith('@') && !name.startsWith('#')) names.add(name);
}
writeFileSync(CLASS_LIST, `${[...names].sort().join('\n')}\n`);
console.log(`wrote ${names.size} class names to ${CLASS_LIST}`);
