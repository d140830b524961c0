// The relay's wait between polls: short right after rows, doubling while the changelog stays
// empty, never above source.relay.pollIntervalMs (decision 0106).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIRST_EMPTY_POLL_WAIT_MS, nextPollWait } from '../../src/capture/trigger/relay.ts';

/** The waits of a relay that sees the given polls (true: rows found), starting fresh. */
function waits(polls: boolean[], maxMs: number): number[] {
  let wait = 0;
  return polls.map((found) => (wait = nextPollWait(wait, found, maxMs)));
}

test('an empty changelog is polled again after 5 ms, then after twice as long each time, up to the interval', () => {
  assert.deepEqual(waits(Array<boolean>(8).fill(false), 100), [5, 10, 20, 40, 80, 100, 100, 100]);
});

test('a poll that finds rows is followed by another at once, and the next empty one waits 5 ms again', () => {
  const empty = Array<boolean>(6).fill(false);
  assert.deepEqual(waits([...empty, true, false, false], 100), [5, 10, 20, 40, 80, 100, 0, 5, 10]);
});

test('an interval below the first wait is never exceeded', () => {
  assert.deepEqual(waits([false, false, true, false], 2), [2, 2, 0, 2]);
  assert.equal(FIRST_EMPTY_POLL_WAIT_MS, 5);
});
