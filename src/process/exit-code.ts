/** Exit codes of every process and command, documented in `zego-relay --help`. */
export const ExitCode = {
  /** Done: the relay stopped cleanly, the config is valid, every callback was acknowledged. */
  ok: 0,
  /** Failed: invalid config, Redis missing, a callback never acknowledged, a replay that failed. */
  failure: 1,
  /** The command line itself is wrong (unknown command or option, missing value). */
  usage: 2,
} as const;
