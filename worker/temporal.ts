import fs from 'node:fs';
import { Connection, Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config';

/** The same build talks to a local dev server, a self-hosted cluster with mTLS, or Temporal Cloud. */
export function connectionOptions(config: Config) {
  const tlsOn =
    config.TEMPORAL_TLS || Boolean(config.TEMPORAL_API_KEY) || Boolean(config.TEMPORAL_TLS_CERT_PATH);
  const tls = !tlsOn
    ? undefined
    : config.TEMPORAL_TLS_CERT_PATH
      ? {
          clientCertPair: {
            crt: fs.readFileSync(config.TEMPORAL_TLS_CERT_PATH),
            key: fs.readFileSync(config.TEMPORAL_TLS_KEY_PATH!),
          },
        }
      : true;
  return { address: config.TEMPORAL_ADDRESS, tls, apiKey: config.TEMPORAL_API_KEY };
}

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(config));
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}

export async function connectWorkerConnection(config: Config): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config));
}
