import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;

/** Prisma Client on the pg driver adapter: no native query engine needed. */
export function createDb(connectionString: string, poolSize = 10): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString, max: poolSize }) });
}
