// Deterministic test payloads: the bytes a test uploads or the upstream streams down, generated block by
// block so a 100 MB body never has to sit whole in the test process, plus the sha256 the receiver must see.
// Every 64 KiB block carries its own index in its first bytes, so a reordered or duplicated block changes
// the hash even though the rest of each block is the same.
import { createHash } from 'node:crypto';

export const PATTERN_BLOCK_BYTES = 64 * 1024;

const baseBlock = Buffer.alloc(PATTERN_BLOCK_BYTES);
for (let i = 0; i < PATTERN_BLOCK_BYTES; i++) baseBlock[i] = (i * 131 + 17) & 0xff;

/** A fresh buffer holding block `index` of the pattern, cut to `length` bytes. */
export function patternBlock(index, length = PATTERN_BLOCK_BYTES) {
  const block = Buffer.from(baseBlock.subarray(0, length));
  if (length >= 4) block.writeUInt32BE(index >>> 0, 0);
  return block;
}

/** Yields the pattern of `totalBytes` bytes as fresh buffers of at most one block each. */
export function* patternBlocks(totalBytes) {
  let index = 0;
  for (let offset = 0; offset < totalBytes; offset += PATTERN_BLOCK_BYTES) {
    yield patternBlock(index++, Math.min(PATTERN_BLOCK_BYTES, totalBytes - offset));
  }
}

const shaCache = new Map();

/** The sha256 (hex) of the first `totalBytes` bytes of the pattern. */
export function patternSha256(totalBytes) {
  if (!shaCache.has(totalBytes)) {
    const hash = createHash('sha256');
    for (const block of patternBlocks(totalBytes)) hash.update(block);
    shaCache.set(totalBytes, hash.digest('hex'));
  }
  return shaCache.get(totalBytes);
}
