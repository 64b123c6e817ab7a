/** Shell keywords and builtins: `exec` cannot run them (or they need no process of their own). */
export const SHELL_WORDS = new Set([
  'if', 'then', 'else', 'elif', 'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'function', 'select',
  '{', '}', '!', '[[', 'time', 'exec', '.', ':', '[', 'alias', 'bg', 'break', 'cd', 'command', 'continue', 'echo',
  'eval', 'exit', 'export', 'false', 'fg', 'getopts', 'hash', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read',
  'readonly', 'return', 'set', 'shift', 'source', 'test', 'times', 'trap', 'true', 'type', 'ulimit', 'umask',
  'unalias', 'unset', 'wait',
]);
