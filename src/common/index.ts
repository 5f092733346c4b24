export * from './errors.js';
export * from './clock.js';
export * from './timers.js';
export * from './logger.js';
export * from './duration.js';
export * from './fs.js';
