import { InputError } from '../errors.js';

/**
 * Name globs for parameter selection (`--freeze 'bert.embeddings.*'`): `*` matches any run of characters
 * (dots included, since parameter names are dotted paths), `?` one character. Everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function matchesAny(name: string, globs: readonly string[]): boolean {
  return globs.some((g) => globToRegExp(g).test(name));
}

/**
 * Checks that every glob names something: a pattern with a typo would otherwise select nothing and the run
 * would go on as if it had not been given. `flag` names the option in the message.
 */
export function checkGlobsMatch(flag: string, globs: readonly string[], names: readonly string[], listHint: string): void {
  for (const glob of globs) {
    if (names.some((n) => globToRegExp(glob).test(n))) continue;
    const example = names.slice(0, 3).join(', ');
    throw new InputError(`${flag} '${glob}' matches no parameter (names look like ${example}${names.length > 3 ? ', ...' : ''}; ${listHint})`);
  }
}
