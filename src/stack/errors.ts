/**
 * Error codes of the local stack. Each message says what is wrong and how to fix it; the code is
 * stable for scripts (`stack up --json` prints it).
 */
export type StackErrorCode =
  | 'STACK_PORT_IN_USE'
  | 'STACK_BINARY_MISSING'
  | 'STACK_INSTALL_FAILED'
  | 'STACK_JVM_BUILD_FAILED'
  | 'STACK_START_TIMEOUT'
  | 'STACK_INIT_FAILED'
  | 'STACK_KAFKA_QUORUM_CHANGED';

export class StackError extends Error {
  constructor(
    readonly code: StackErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StackError';
  }
}
