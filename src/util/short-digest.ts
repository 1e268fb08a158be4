// The short digest: how a model's or a shared file's content hash is carried in an announcement.
// Here, not in mesh/ or membership/: the backends report digests and know no mesh, the
// announcement checks them, and sharing names files by them; all three import this file.

/**
 * Hex digits of a digest carried in an announcement (served models' and shared files'): enough
 * to tell model versions apart and find holders, small enough for the announcement's 4 KiB; full
 * hashes come from a peer's catalogue.
 */
export const SHORT_DIGEST_HEX = 16
