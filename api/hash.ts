import crypto from 'node:crypto';

/** Hex SHA-256 of a string (UTF-8): digests of keys, files, forms and requests. */
export const sha256 = (s: string): string => crypto.createHash('sha256').update(s).digest('hex');
