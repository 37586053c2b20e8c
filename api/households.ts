import crypto from 'node:crypto';

/**
 * A household's identity: an HMAC of the head's ID number, so neither workflow IDs nor logs carry
 * the number itself. The same household always maps to the same workflow ID (start-or-join).
 */
export function householdKey(idNumber: string, secret: string): string {
  return crypto.createHmac('sha256', secret).update(idNumber.toUpperCase()).digest('hex').slice(0, 32);
}

export function caseWorkflowId(key: string): string {
  return `household-${key}`;
}
