import type { Claims } from './auth';

declare global {
  namespace Express {
    interface Request {
      requestId: string;
      principal?: Claims;
    }
  }
}
export {};
