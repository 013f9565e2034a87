/** Telling a Redis Cluster connection from a single one, by ioredis' public class. */
import { Cluster, type Redis } from 'ioredis';

export function isCluster(connection: Redis | Cluster): connection is Cluster {
  return connection instanceof Cluster;
}
