// The workflows the worker registers: a short list of explicit re-exports (sdk-typescript #1724).
export { householdCase } from './householdCase';
export { agencyReferral } from './agencyReferral';
export { webhookDelivery, webhookDispatcher, referralImport } from './webhookDelivery';
