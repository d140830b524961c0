// Keys must land in the partition the Java client would choose (Spark, other producers and tools
// all assume it): the relay uses compatibilityPartitioner, checked here against the vectors of
// Kafka's own UtilsTest.testMurmur2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compatibilityPartitioner, defaultPartitioner } from '@platformatic/kafka';

const JAVA_MURMUR2: Array<[string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

test('the partitioner the relay uses agrees with the Java client (toPositive(murmur2(key)))', () => {
  for (const [key, murmur] of JAVA_MURMUR2) {
    const java = murmur & 0x7fffffff;
    assert.equal(compatibilityPartitioner(undefined as never, Buffer.from(key)), java, key);
    for (const partitions of [3, 7, 12]) {
      assert.equal(
        compatibilityPartitioner(undefined as never, Buffer.from(key)) % partitions,
        java % partitions,
      );
    }
  }
  // Why it matters: the library's default differs for keys whose hash is negative.
  const differs = JAVA_MURMUR2.some(
    ([key, murmur]) =>
      defaultPartitioner(undefined as never, Buffer.from(key)) % 3 !== (murmur & 0x7fffffff) % 3,
  );
  assert.ok(
    differs,
    'the default partitioner now agrees with Java: the compatibility choice may be revisited',
  );
});
