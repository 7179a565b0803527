/** What a username may be (also the API schema's pattern): letters, digits, `. _ @ -`, at most 64. */
export const USERNAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$';
