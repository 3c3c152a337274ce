/** The same conformance suite as the Kafka one, against the embedded log (the standalone default). */
import { afterAll, describe } from 'vitest';
import { busConformance } from './conformance.ts';
import { embeddedHarness } from './embedded-harness.ts';

const harness = embeddedHarness();
afterAll(() => harness.cleanup());

describe('embedded bus (integration suite)', () => {
  busConformance('embedded', harness);
});
