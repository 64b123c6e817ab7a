/**
 * `node:crypto`, loaded when first used. Loading it is a noticeable part of what `tf start` does
 * before its first spawn, and only releases and encrypted secrets need it; the modules that do
 * call this instead of importing it, so a start without them never loads it.
 */
export const nodeCrypto = (): typeof import('node:crypto') => require('node:crypto') as typeof import('node:crypto');
