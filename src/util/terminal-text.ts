/**
 * Text quoted from user input (a dataset line, a file name, a YAML key, a server's error body) must not drive
 * the terminal it is printed on: ANSI/OSC escape sequences could clear the screen, rewrite earlier lines or
 * set the window title, and bidirectional overrides can make a message read differently from what it says.
 */

// C0 controls except tab and newline (messages are multi-line by design), DEL, C1 controls, and the Unicode
// bidirectional embeddings, overrides and isolates.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Replaces every unsafe character with a visible escape (`\x1b`, `\u202e`); other text is unchanged. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
