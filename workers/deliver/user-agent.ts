/** `user-agent: zego-relay/VERSION` on every request to a target. */
import { RELAY_VERSION } from '../../src/shared/version.js';

export const USER_AGENT = `zego-relay/${RELAY_VERSION}`;
