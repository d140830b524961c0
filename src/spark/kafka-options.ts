// Kafka client options for the JVM side (the Spark source and the DLQ producer) from the resolved
// TLS / SASL settings. They hold secrets, so they travel in an env variable (kafka.optionsEnv of
// the job description), never in the job file.
import type { Config } from '../config/load.ts';

export function javaKafkaOptions(kafka: Pick<Config['kafka'], 'tls' | 'sasl'>): Record<string, string> {
  const out: Record<string, string> = {};
  if (!kafka.tls && !kafka.sasl) return out;
  out['security.protocol'] = kafka.sasl ? (kafka.tls ? 'SASL_SSL' : 'SASL_PLAINTEXT') : 'SSL';
  if (kafka.tls) {
    // PEM content inline: the Java client accepts it without keystore files on disk.
    if (kafka.tls.ca) {
      out['ssl.truststore.type'] = 'PEM';
      out['ssl.truststore.certificates'] = kafka.tls.ca;
    }
    if (kafka.tls.cert && kafka.tls.key) {
      out['ssl.keystore.type'] = 'PEM';
      out['ssl.keystore.certificate.chain'] = kafka.tls.cert;
      out['ssl.keystore.key'] = kafka.tls.key;
    }
    if (!kafka.tls.rejectUnauthorized) out['ssl.endpoint.identification.algorithm'] = '';
  }
  if (kafka.sasl) {
    out['sasl.mechanism'] = kafka.sasl.mechanism;
    const module =
      kafka.sasl.mechanism === 'PLAIN'
        ? 'org.apache.kafka.common.security.plain.PlainLoginModule'
        : 'org.apache.kafka.common.security.scram.ScramLoginModule';
    const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    out['sasl.jaas.config'] =
      `${module} required username=${quote(kafka.sasl.username)} password=${quote(kafka.sasl.password)};`;
  }
  return out;
}
