import { systemClock } from '../../../src/common/clock.js';
import { clockContract } from '../../contract/clock.js';
import { SimulatedClock } from '../../fakes/clock.js';

clockContract('SimulatedClock', () => {
  const clock = new SimulatedClock();
  return {
    clock,
    advance: (ms) => clock.advance(ms),
    turn: async () => {
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    },
  };
});

clockContract('systemClock', () => ({
  clock: systemClock,
  // a real timer set after the ones under test, with a margin: it runs after every one due by then
  advance: (ms) => new Promise((r) => setTimeout(r, ms + 5)),
  turn: () => new Promise((r) => setTimeout(r, 5)),
}));
