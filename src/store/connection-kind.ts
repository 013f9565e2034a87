/** Telling a Redis Cluster connection from a single one (ioredis marks Cluster instances `isCluster`). */
import type { Cluster, Redis } from 'ioredis';

export function isCluster(connection: Redis | Cluster): connection is Cluster {
  return (connection as { isCluster?: boolean }).isCluster === true;
}
