/**
 * The one way tests build the real image service (the composition root, src/cli/wire.ts, is
 * the other): a state directory, optionally a config directory, a platform, transports or
 * the appc discovery port of a test server.
 */
import { createImageService, type BerthImageService, type ImageServiceOptions } from '../../src/image/index.js';

export type TestImageServiceOptions = ImageServiceOptions;

export function testImageService(opts: TestImageServiceOptions): BerthImageService {
  return createImageService(opts);
}
