/*
 * Every Redis key the project writes starts with `{QUEUE_PREFIX}`. The braces
 * are a Redis Cluster hash tag: all keys of one deployment land in one slot, so
 * Lua scripts (BullMQ's and ours) may touch several of them atomically. Two
 * deployments with different prefixes share no key.
 */

/** The BullMQ `prefix` option for a deployment. */
export const bullPrefix = (queuePrefix: string): string => `{${queuePrefix}}`;

/** A key of the project's own (not BullMQ's), e.g. `projectKey('vouchflow', 'dedup', id)`. */
export const projectKey = (queuePrefix: string, ...parts: string[]): string => [bullPrefix(queuePrefix), ...parts].join(':');

/** The queue the ingress writes each accepted delivery to. */
export const INTAKE_QUEUE = 'intake';

/** Handler names: lowercase, digits, `-` and `_`; they name queues and metrics. */
export const HANDLER_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

/** The queue holding one handler's units of work. */
export const handlerQueueName = (handler: string): string => `handler-${handler}`;
